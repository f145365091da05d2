from django.db import migrations

from casework.defaults import ensure_defaults
from portal.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("casework", "0001_initial"), ("portal", "0002_roles"), ("accounts", "0002_roles")]

    operations = [
        migrations.RunPython(ensure_defaults, migrations.RunPython.noop),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
