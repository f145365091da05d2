from django.db import migrations

from portal.roles import sync_roles


class Migration(migrations.Migration):
    """Give the roles their permissions on activation links and notifications."""

    dependencies = [("accounts", "0007_activation_links_notifications")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
