from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin
from casework.models import (
    Case,
    CaseEvent,
    ChecklistItem,
    CustomerFeedback,
    Incident,
    Playbook,
    PlaybookRevision,
    PlaybookStep,
    PlaybookVersion,
    ReactivationBatch,
    SlaPolicy,
    WipLimit,
)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["priority", "time_to_assign", "time_to_resolve"]


@admin.register(WipLimit)
class WipLimitAdmin(admin.ModelAdmin):
    list_display = ["department", "status", "limit"]
    list_editable = ["limit"]
    list_filter = ["department", "status"]


class PlaybookStepInline(admin.TabularInline):
    """The current steps, read only: they change through a proposal from a case study, as a new version."""

    model = PlaybookStep
    extra = 0
    can_delete = False
    ordering = ["position"]
    fields = ("position", "text")
    readonly_fields = fields
    verbose_name_plural = _("steps (read only: a lead proposes changes from a case study, another lead accepts them)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["cause", "title", "version"]
    readonly_fields = ["version"]
    inlines = [PlaybookStepInline]


@admin.register(PlaybookRevision)
class PlaybookRevisionAdmin(ReadOnlyAdmin):
    """Proposed playbook changes, decided on the playbook pages (four eyes, version checked)."""

    list_display = ["proposed_at", "playbook", "proposed_by_name", "status", "decided_by_name", "resulting_version"]
    list_filter = ["status", "playbook"]


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    list_display = ["playbook", "number", "created_at", "created_by_name"]
    list_filter = ["playbook"]
    list_select_related = ["playbook"]


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "actor_name", "from_status", "to_status", "text")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChecklistInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0
    can_delete = False
    fields = ("position", "text", "done_at", "done_by")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Cases are worked on the board and the case page, where every move is checked and logged."""

    list_display = ["id", "account", "cause", "department", "status", "priority", "assignee", "resolve_due_at"]
    list_filter = ["status", "department", "cause", "priority", "is_drill"]
    search_fields = ["account__number", "account__customer__name"]
    list_select_related = ["account", "department", "assignee"]
    show_full_result_count = False
    inlines = [ChecklistInline, CaseEventInline]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "cause", "status", "created_at", "created_by_name", "is_drill"]
    list_filter = ["status", "cause", "is_drill"]
    search_fields = ["title", "description"]
    # Status and cause move through the desk's services (open, re-drive, settle), never by hand here.
    readonly_fields = ["status", "cause", "created_by", "created_by_name", "created_at", "details"]


@admin.register(ReactivationBatch)
class ReactivationBatchAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "title", "status", "total", "processed", "succeeded", "failed", "created_by"]
    list_filter = ["status"]


@admin.register(CustomerFeedback)
class CustomerFeedbackAdmin(ReadOnlyAdmin):
    """Complaints as recorded (on the case pages); what the customer said is their own words."""

    list_display = ["recorded_at", "account", "case", "channel", "category", "severity", "first_response_at"]
    list_filter = ["channel", "category", "severity", "is_drill"]
    search_fields = ["account__number", "case__id"]
    list_select_related = ["account"]
    show_full_result_count = False
