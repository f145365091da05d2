from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_fsm.admin import FSMAdminMixin

from accounts.models import (
    ApprovalRequest,
    AuditEntry,
    Channel,
    CoreCommand,
    CoreEvent,
    Customer,
    LoanAccount,
    ReconciliationRun,
    Tranche,
)
from accounts.policy import MANUAL_TRANSITIONS, REAUTH_TRANSITIONS
from accounts.reveal import PERSONAL_FIELDS, masked, masked_payload
from accounts.services import AccountActionError, Actor, account_decide
from portal.reauth import CONFIRM_FIRST, recently_authenticated
from portal.text import TextField


class ReadOnlyAdmin(admin.ModelAdmin):
    """History and evidence: visible to whoever may view it, changed by nobody here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Customers, with their personal data masked as on every page.

    The admin never shows a mobile, email or credit code in clear: a value is revealed, with a
    reason and an access record, on the account page (``accounts.reveal``). Searching by the full
    credit code still finds the customer without showing it.
    """

    list_display = ["name", "masked_credit_code", "risk_tier", "credit_score", "contact_name", "is_drill"]
    list_filter = ["risk_tier", "language", "is_drill"]
    search_fields = ["name", "=credit_code", "contact_name"]
    show_full_result_count = False
    exclude = [field.attribute for field in PERSONAL_FIELDS.values()]
    readonly_fields = ["masked_credit_code", "masked_mobile", "masked_email"]

    @admin.display(description=_("unified social credit code"))
    def masked_credit_code(self, customer: Customer) -> str:
        return masked(customer, "credit_code")

    @admin.display(description=_("contact mobile"))
    def masked_mobile(self, customer: Customer) -> str:
        return masked(customer, "mobile")

    @admin.display(description=_("email"))
    def masked_email(self, customer: Customer) -> str:
        return masked(customer, "email")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers come from core banking and imports, with their personal data


class AdminReasonForm(forms.Form):
    reason = TextField(
        label=_("Reason (goes into the audit trail)"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )


class TrancheInline(admin.TabularInline):
    model = Tranche
    extra = 0
    can_delete = False
    readonly_fields = ["sequence", "amount", "status", "released_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditInline(admin.TabularInline):
    model = AuditEntry
    extra = 0
    can_delete = False
    fields = ("created_at", "transition", "from_state", "to_state", "actor_name", "channel", "reason")
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LoanAccount)
class LoanAccountAdmin(FSMAdminMixin, admin.ModelAdmin):
    """Accounts change only through transitions, which run through the same service and audit."""

    fsm_fields = ["state"]
    fsm_forms = {name: AdminReasonForm for name in MANUAL_TRANSITIONS}
    list_display = ["number", "customer", "product", "channel", "state", "empty_cause", "approved_limit", "is_drill"]
    list_filter = ["state", "empty_cause", "product", "customer__risk_tier", "is_drill"]
    search_fields = ["number", "customer__name", "=customer__credit_code"]
    list_select_related = ["customer"]
    show_full_result_count = False
    inlines = [TrancheInline, AuditInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return tuple(field.name for field in self.model._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fsm_label(self, transition: Any) -> str:
        manual = MANUAL_TRANSITIONS.get(transition.name)
        return str(manual.label) if manual else transition.name

    def _apply_fsm_transition(  # type: ignore[override]
        self, *, obj: LoanAccount, transition_name: str, request: HttpRequest, kwargs: Any = None
    ) -> bool:
        if transition_name in REAUTH_TRANSITIONS and not recently_authenticated(request):
            confirm = f"{reverse('confirm')}?{urlencode({'next': request.get_full_path()})}"
            self.message_user(request, format_html('<a href="{}">{}</a>', confirm, CONFIRM_FIRST), messages.WARNING)
            return False
        reason = (kwargs or {}).get("reason", "")
        try:
            decision = account_decide(
                account_id=obj.pk,
                transition_name=transition_name,
                actor=Actor.staff(request.user, Channel.ADMIN),  # type: ignore[arg-type]
                reason=reason,
            )
        except (AccountActionError, PermissionDenied) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)) or _("Not allowed."), level=messages.ERROR)
            return False
        manual = MANUAL_TRANSITIONS.get(transition_name)
        label = manual.label if manual else transition_name
        if decision.applied:
            self.message_user(request, f"{label}: done.", messages.SUCCESS)
        else:
            self.message_user(request, f"{label}: sent to core banking; applied once it confirms.", messages.SUCCESS)
        return True


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "transition", "from_state", "to_state", "actor_name", "channel"]
    list_filter = ["transition", "channel", "to_state"]
    search_fields = ["account__number", "actor_name", "reason"]
    list_select_related = ["account"]
    show_full_result_count = False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = ["requested_at", "account", "kind", "status", "requested_by", "decided_by"]
    list_filter = ["kind", "status"]
    search_fields = ["account__number", "reason"]
    list_select_related = ["account", "requested_by", "decided_by"]


@admin.register(Tranche)
class TrancheAdmin(ReadOnlyAdmin):
    list_display = ["account", "sequence", "amount", "status", "released_at"]
    list_filter = ["status"]
    search_fields = ["account__number"]
    list_select_related = ["account"]


@admin.register(CoreEvent)
class CoreEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event_id", "event_type", "account", "outcome"]
    list_filter = ["event_type"]
    search_fields = ["event_id", "account__number"]
    list_select_related = ["account"]
    # The payload as received, with the customer's mobile, email and credit code masked.
    fields = readonly_fields = ("event_id", "event_type", "account", "masked_payload", "outcome", "received_at")

    @admin.display(description=_("payload"))
    def masked_payload(self, event: CoreEvent) -> str:
        return json.dumps(masked_payload(event.payload), ensure_ascii=False, indent=2)


@admin.register(CoreCommand)
class CoreCommandAdmin(ReadOnlyAdmin):
    """The outbox to core banking: what was asked, how often it was tried, what core answered."""

    list_display = ["created_at", "account", "kind", "status", "attempts", "last_error_code", "completed_at"]
    list_filter = ["status", "kind"]
    search_fields = ["account__number", "idempotency_key", "last_error_code"]
    list_select_related = ["account"]
    show_full_result_count = False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "mode", "cards_read", "mismatches", "fixed", "cased", "in_flight", "error"]
    list_filter = ["mode"]
