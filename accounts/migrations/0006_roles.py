from django.db import migrations

from portal.roles import sync_roles


class Migration(migrations.Migration):
    """Give the roles their permissions on credit review proposals."""

    dependencies = [("accounts", "0005_credit_review_proposal")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
