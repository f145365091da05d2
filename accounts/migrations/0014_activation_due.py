from django.db import migrations, models
from django.db.models import F

from accounts.policy import TIERS


def due_dates(apps, schema_editor):
    """Every issued card's window ends at issued_at plus its customer's tier's window (one update per tier)."""
    account = apps.get_model("accounts", "LoanAccount")
    for tier, policy in TIERS.items():
        account.objects.filter(issued_at__isnull=False, customer__risk_tier=tier).update(
            activation_due_at=F("issued_at") + policy.activation_window
        )


class Migration(migrations.Migration):
    """The end of the activation window is stored on the account when the card is issued.

    The monitor then claims overdue accounts from one index range, without reading the customer.
    """

    dependencies = [("accounts", "0013_lifecycle_transitions")]

    operations = [
        migrations.RemoveIndex(model_name="loanaccount", name="account_waiting"),
        migrations.AddField(
            model_name="loanaccount",
            name="activation_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="activation due"),
        ),
        migrations.RunPython(due_dates, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="loanaccount",
            index=models.Index(
                condition=models.Q(("state__in", ["issued", "verifying"])),
                fields=["activation_due_at", "id"],
                name="account_waiting",
            ),
        ),
    ]
