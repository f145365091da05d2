from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.http import staff_user
from portal.models import Department, JobHeartbeat, StaffProfile
from portal.reauth import confirm_first, recently_authenticated
from portal.second_factor import devices_reset


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
    list_display = ["username", "first_name", "last_name", "is_active", "is_staff", "second_factor"]
    list_filter = ["is_active", "is_staff", "groups", "staff_profile__departments"]
    actions = ["second_factor_reset"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        authenticator = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_second_factor=Exists(authenticator))

    @admin.display(boolean=True, description=_("second factor"), ordering="has_second_factor")
    def second_factor(self, user: Any) -> bool:
        return bool(getattr(user, "has_second_factor", False))

    @admin.action(
        description=_("Reset the second factor (a lost phone): a new one is set up at the next sign-in"),
        permissions=["change"],
    )
    def second_factor_reset(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if not recently_authenticated(request):
            return confirm_first(request, next_url=request.get_full_path())
        people = list(queryset)
        for person in people:
            devices_reset(user=person, by=staff_user(request), request=request)
        self.message_user(
            request,
            ngettext(
                "Second factor reset for %(count)d person; their sessions were ended.",
                "Second factor reset for %(count)d people; their sessions were ended.",
                len(people),
            )
            % {"count": len(people)},
        )
        return None


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
