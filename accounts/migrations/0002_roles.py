from django.db import migrations

from portal.roles import sync_roles


class Migration(migrations.Migration):
    """Give the roles their permissions on customers and loan accounts."""

    dependencies = [
        ("accounts", "0001_initial"),
        ("portal", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
