"""On PostgreSQL the access log and the audit seals refuse UPDATE and DELETE (``portal.append_only``).

Accounts' and casework's audit tables get theirs in their own migrations. TRUNCATE is a
separate privilege, not granted to the portal's role in production (README: security).
"""

from django.db import migrations

from portal.append_only import installer


class Migration(migrations.Migration):
    dependencies = [("portal", "0005_audit_trail")]

    operations = [
        migrations.RunPython(*installer("portal_securityevent"), elidable=False),
        migrations.RunPython(*installer("portal_auditseal"), elidable=False),
    ]
