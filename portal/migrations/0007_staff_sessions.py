# Sessions that know whose they are (portal.sessions, SESSION_ENGINE = "portal.sessions").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0006_audit_append_only"),
    ]

    operations = [
        migrations.CreateModel(
            name="StaffSession",
            fields=[
                (
                    "session_key",
                    models.CharField(max_length=40, primary_key=True, serialize=False, verbose_name="session key"),
                ),
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                ("user_id", models.BigIntegerField(blank=True, db_index=True, null=True, verbose_name="user id")),
            ],
            options={
                "verbose_name": "signed-in session",
                "verbose_name_plural": "signed-in sessions",
                "abstract": False,
            },
        ),
    ]
