from django.db import migrations

from portal.roles import sync_roles


class Migration(migrations.Migration):
    """Give the roles their permissions on the new job-related models."""

    dependencies = [
        ("accounts", "0003_simulatorfault_reactivationbatch_activationattempt_and_more"),
        ("portal", "0003_jobheartbeat"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
