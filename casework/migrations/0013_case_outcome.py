"""A resolved case says how it ended: fixed, or won't fix with a reason. Cases resolved before
this were resolved as fixed (their account became active, closed or issued, or someone said so)."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def resolved_cases_were_fixed(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Case = apps.get_model("casework", "Case")
    Case.objects.filter(status__in=["resolved", "closed"]).update(resolution="fixed")


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0012_audit_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="resolution",
            field=models.CharField(
                blank=True,
                choices=[("fixed", "Fixed"), ("wont_fix", "Won't fix")],
                max_length=10,
                verbose_name="outcome",
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="resolution_note",
            field=models.TextField(blank=True, verbose_name="outcome note"),
        ),
        migrations.AddField(
            model_name="case",
            name="resolution_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("customer_declined", "The customer declined the line"),
                    ("account_closing", "The account is closed or being closed"),
                    ("duplicate", "Duplicate of another case"),
                    ("other", "Other"),
                ],
                max_length=20,
                verbose_name="why it won't be fixed",
            ),
        ),
        migrations.RunPython(resolved_cases_were_fixed, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="case",
            constraint=models.CheckConstraint(
                condition=models.Q(("resolution", ""), ("status__in", ["resolved", "closed"]), _connector="OR"),
                name="case_outcome_when_resolved",
            ),
        ),
        migrations.AddConstraint(
            model_name="case",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("resolution__in", ["", "fixed"]), ("resolution_note", ""), ("resolution_reason", "")),
                    models.Q(
                        ("resolution", "wont_fix"),
                        models.Q(("resolution_reason", ""), _negated=True),
                        models.Q(("resolution_note", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="case_wont_fix_has_reason",
            ),
        ),
    ]
