from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from portal.models import Department, JobHeartbeat, StaffProfile


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "description"]
    search_fields = ["code", "name"]


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    filter_horizontal = ["departments"]
    verbose_name_plural = "departments"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "last_name", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "groups", "staff_profile__departments"]


@admin.register(JobHeartbeat)
class JobHeartbeatAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "interval_seconds",
        "last_started_at",
        "last_succeeded_at",
        "last_duration_ms",
        "last_error",
    ]
    readonly_fields = [field.name for field in JobHeartbeat._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False
