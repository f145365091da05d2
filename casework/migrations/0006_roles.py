from django.db import migrations

from portal.roles import sync_roles


class Migration(migrations.Migration):
    """Let everyone read drills and case studies; leads run drills and write case studies."""

    dependencies = [("casework", "0005_drills_and_case_studies")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
