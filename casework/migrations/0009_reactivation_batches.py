import django.db.models.deletion
import django.db.models.expressions
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from portal.roles import sync_roles

MOVED = ("reactivationbatch", "reactivationitem")


def content_types_follow(apps, schema_editor):
    """The batches' content types (and so their permissions and admin history) now name casework."""
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="casework", model__in=MOVED).exists():
        content_type.objects.filter(app_label="accounts", model__in=MOVED).update(app_label="casework")


def content_types_back(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="casework", model__in=MOVED).update(app_label="accounts")


class Migration(migrations.Migration):
    """Casework takes over the reactivation batches from accounts, in their existing tables."""

    dependencies = [
        ("accounts", "0012_reactivation_batches_to_casework"),
        ("casework", "0008_core_causes"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReactivationBatch",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("title", models.CharField(max_length=200, verbose_name="title")),
                        ("criteria", models.JSONField(blank=True, default=dict, verbose_name="criteria")),
                        (
                            "status",
                            models.CharField(
                                choices=[("running", "Running"), ("done", "Done"), ("cancelled", "Cancelled")],
                                default="running",
                                max_length=10,
                                verbose_name="status",
                            ),
                        ),
                        ("total", models.PositiveIntegerField(default=0, verbose_name="accounts")),
                        ("processed", models.PositiveIntegerField(default=0, verbose_name="processed")),
                        ("succeeded", models.PositiveIntegerField(default=0, verbose_name="succeeded")),
                        ("failed", models.PositiveIntegerField(default=0, verbose_name="failed")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="started")),
                        ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished")),
                        (
                            "created_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "incident",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="batches",
                                to="casework.incident",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "reactivation batch",
                        "verbose_name_plural": "reactivation batches",
                        "db_table": "accounts_reactivationbatch",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="ReactivationItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("sent", "Waiting for core banking"),
                                    ("succeeded", "Reactivated"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=10,
                                verbose_name="status",
                            ),
                        ),
                        ("error_code", models.CharField(blank=True, max_length=60, verbose_name="error code")),
                        ("error", models.CharField(blank=True, max_length=300, verbose_name="error")),
                        ("attempted_at", models.DateTimeField(blank=True, null=True, verbose_name="attempted")),
                        (
                            "account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.loanaccount"
                            ),
                        ),
                        (
                            "batch",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="items",
                                to="casework.reactivationbatch",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "reactivation item",
                        "verbose_name_plural": "reactivation items",
                        "db_table": "accounts_reactivationitem",
                        "ordering": ["batch", "id"],
                    },
                ),
                migrations.AddConstraint(
                    model_name="reactivationbatch",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            (
                                "processed",
                                django.db.models.expressions.CombinedExpression(
                                    models.F("succeeded"), "+", models.F("failed")
                                ),
                            ),
                            ("processed__lte", models.F("total")),
                        ),
                        name="batch_counts_add_up",
                    ),
                ),
                migrations.AddIndex(
                    model_name="reactivationitem",
                    index=models.Index(fields=["batch", "status"], name="batch_item_status"),
                ),
                migrations.AddConstraint(
                    model_name="reactivationitem",
                    constraint=models.UniqueConstraint(fields=("batch", "account"), name="batch_account_once"),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_follow, content_types_back),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
