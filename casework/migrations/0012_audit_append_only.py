"""On PostgreSQL a case's timeline refuses UPDATE and DELETE (a drill's purge of its own rows aside);
the reveal permissions (portal 0005) go to the roles that need them."""

from django.db import migrations

from portal.append_only import installer
from portal.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0011_lifecycle_transitions"),
        ("accounts", "0022_audit_append_only"),
        ("portal", "0006_audit_append_only"),
    ]

    operations = [
        migrations.RunPython(
            *installer(
                "casework_caseevent", drill_row="SELECT 1 FROM casework_case WHERE id = OLD.case_id AND is_drill"
            ),
            elidable=False,
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
