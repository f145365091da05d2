"""On PostgreSQL an account's audit entries refuse UPDATE and DELETE; a drill's purge of its own rows aside."""

from django.db import migrations

from portal.append_only import installer


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0021_customer_anonymised"),
        ("portal", "0006_audit_append_only"),
    ]

    operations = [
        migrations.RunPython(
            *installer(
                "accounts_auditentry",
                drill_row="SELECT 1 FROM accounts_loanaccount WHERE id = OLD.account_id AND is_drill",
            ),
            elidable=False,
        ),
    ]
