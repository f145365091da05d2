from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from casework.models import Case
from casework.templatetags.cases import sla_badge
from portal.actors import person_name


class CaseTable(tables.Table):
    id = tables.Column(verbose_name=_("Case"), linkify=True)
    account = tables.Column(verbose_name=_("Account"), accessor="account__number", order_by="account__number")
    customer = tables.Column(verbose_name=_("Customer"), accessor="account__customer__name", orderable=False)
    cause = tables.Column(verbose_name=_("Cause"))
    department = tables.Column(verbose_name=_("Department"), accessor="department__name", order_by="department")
    status = tables.Column(verbose_name=_("Status"))
    priority = tables.Column(verbose_name=_("Priority"))
    assignee = tables.Column(verbose_name=_("Assignee"), order_by=("assignee__first_name", "assignee__username"))
    resolve_due_at = tables.Column(verbose_name=_("SLA"))

    class Meta:
        model = Case
        fields = ("id", "account", "customer", "cause", "department", "status", "priority", "assignee")
        sequence = (
            "id",
            "account",
            "customer",
            "cause",
            "department",
            "status",
            "priority",
            "assignee",
            "resolve_due_at",
        )
        order_by = ("priority", "resolve_due_at")
        empty_text = _("No case matches. Clear a filter to see more.")

    def render_id(self, value: int) -> str:
        return f"#{value}"

    def render_cause(self, record: Case) -> str:
        return str(record.get_cause_display())

    def render_status(self, record: Case) -> str:
        return str(record.get_status_display())

    def render_priority(self, value: int) -> str:
        return f"P{value}"

    def render_assignee(self, record: Case) -> str:
        assignee = record.assignee
        return (person_name(assignee)) if assignee else "—"

    def render_resolve_due_at(self, record: Case) -> Any:
        return sla_badge(record)
