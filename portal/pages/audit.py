"""``/audit/``: the auditors' view of the trail: sign-ins and access, account changes, case timelines.

Each trail is a filterable, paginated table with its CSV and Excel export (each export itself
recorded in the access log). The page never shows personal data: the access log names whose
data was looked at by account number and customer name, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib.auth.decorators import permission_required
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET
from django_tables2 import RequestConfig

from accounts.models import AuditEntry, State
from accounts.reveal import PERSONAL_FIELDS
from casework.models import CaseEvent
from portal.actors import actor_label
from portal.exports import Columns, filtered_export, list_queries
from portal.models import SecurityEvent
from portal.tables import LargeQuerysetData

PAGE_SIZE = 50
# A personal field as the access log records it (the customer's attribute, or an export's column).
FIELD_LABELS = {
    **{field.attribute: field.label for field in PERSONAL_FIELDS.values()},
    **{f"customer__{field.attribute}": field.label for field in PERSONAL_FIELDS.values()},
}
DATE = forms.DateInput(attrs={"type": "date"})


def field_labels(value: str) -> str:
    """ "contact_mobile" as "contact mobile", in the reader's language."""
    return ", ".join(str(FIELD_LABELS.get(name, name)) for name in value.split(",") if name)


class TrailFilter(django_filters.FilterSet):
    """What every trail filters by: who, and from which day to which day (local dates, both included)."""

    actor = django_filters.CharFilter(label=gettext_lazy("Done by"), field_name="actor_name", lookup_expr="icontains")
    since = django_filters.DateFilter(
        label=gettext_lazy("From date"), field_name="created_at", lookup_expr="date__gte", widget=DATE
    )
    until = django_filters.DateFilter(
        label=gettext_lazy("To date"), field_name="created_at", lookup_expr="date__lte", widget=DATE
    )


class AccessFilter(TrailFilter):
    kind = django_filters.ChoiceFilter(
        label=gettext_lazy("Event"), choices=SecurityEvent.Kind.choices, empty_label=gettext_lazy("Any event")
    )
    subject = django_filters.CharFilter(
        label=gettext_lazy("Whose data"),
        field_name="subject_label",
        lookup_expr="icontains",
        help_text=gettext_lazy("Account number or customer name"),
    )

    class Meta:
        model = SecurityEvent
        fields: list[str] = []


class AccountTrailFilter(TrailFilter):
    account = django_filters.CharFilter(
        label=gettext_lazy("Account number"), field_name="account__number", lookup_expr="iexact"
    )
    to_state = django_filters.ChoiceFilter(
        label=gettext_lazy("To state"), choices=State.choices, empty_label=gettext_lazy("Any state")
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []


class CaseTrailFilter(TrailFilter):
    case = django_filters.NumberFilter(label=gettext_lazy("Case"), field_name="case_id")
    kind = django_filters.ChoiceFilter(
        label=gettext_lazy("Kind"), choices=CaseEvent.Kind.choices, empty_label=gettext_lazy("Any kind")
    )

    class Meta:
        model = CaseEvent
        fields: list[str] = []


class ActorColumn(tables.Column):
    def render(self, value: str) -> str:
        return actor_label(value)


class AccessTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name=gettext_lazy("Time"), format="Y-m-d H:i:s")
    kind = tables.Column(verbose_name=gettext_lazy("Event"))
    actor_name = ActorColumn(verbose_name=gettext_lazy("Done by"))
    subject_label = tables.Column(verbose_name=gettext_lazy("Whose data"), orderable=False)
    field = tables.Column(verbose_name=gettext_lazy("Field"), orderable=False)
    reason = tables.Column(verbose_name=gettext_lazy("Reason"), orderable=False)
    details = tables.Column(verbose_name=gettext_lazy("Details"), orderable=False)
    ip_address = tables.Column(verbose_name=gettext_lazy("IP address"), orderable=False)

    class Meta:
        order_by = "-created_at"
        attrs = {"class": "data-table", "data-testid": "trail"}
        empty_text = gettext_lazy("Nothing recorded matches these filters.")

    def render_field(self, value: str) -> str:
        return field_labels(value)

    def render_details(self, value: dict[str, Any]) -> str:
        parts = []
        if "list" in value:
            listed = EXPORTED_LISTS.get(value["list"], value["list"])
            parts.append(gettext("%(rows)s rows of %(list)s") % {"rows": value.get("rows", "?"), "list": listed})
        if value.get("personal_columns"):
            parts.append(gettext("with personal columns"))
        if "username" in value:
            parts.append(gettext("login %(username)s") % {"username": value["username"]})
        return " · ".join(parts) or "—"


class AccountTrailTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name=gettext_lazy("Time"), format="Y-m-d H:i:s")
    account = tables.Column(verbose_name=gettext_lazy("Account"), accessor="account__number", linkify=False)
    action_label = tables.Column(verbose_name=gettext_lazy("Action"), accessor="action_label", orderable=False)
    to_state = tables.Column(verbose_name=gettext_lazy("To state"))
    actor_name = ActorColumn(verbose_name=gettext_lazy("Done by"))
    channel = tables.Column(verbose_name=gettext_lazy("Channel"))
    reason = tables.Column(verbose_name=gettext_lazy("Reason"), orderable=False)

    class Meta:
        order_by = "-created_at"
        attrs = {"class": "data-table", "data-testid": "trail"}
        empty_text = gettext_lazy("Nothing recorded matches these filters.")


class CaseTrailTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name=gettext_lazy("Time"), format="Y-m-d H:i:s")
    case = tables.Column(verbose_name=gettext_lazy("Case"), accessor="case_id")
    kind = tables.Column(verbose_name=gettext_lazy("Kind"))
    actor_name = ActorColumn(verbose_name=gettext_lazy("Done by"))
    to_status = tables.Column(verbose_name=gettext_lazy("To status"))
    text = tables.Column(verbose_name=gettext_lazy("Text"), orderable=False)

    class Meta:
        order_by = "-created_at"
        attrs = {"class": "data-table", "data-testid": "trail"}
        empty_text = gettext_lazy("Nothing recorded matches these filters.")


@dataclass(frozen=True)
class Trail:
    slug: str
    title: Promise
    filterset: type[django_filters.FilterSet]
    table: type[tables.Table]
    columns: Columns

    def queryset(self) -> QuerySet[Any]:
        model: type[Model] = self.filterset._meta.model
        rows = model._default_manager.all()
        if model is AuditEntry:
            return rows.select_related("account")
        return rows


TRAILS = {
    trail.slug: trail
    for trail in (
        Trail(
            "access",
            gettext_lazy("Sign-ins and access to personal data"),
            AccessFilter,
            AccessTable,
            (
                ("created_at", gettext_lazy("Time")),
                ("kind", gettext_lazy("Event")),
                ("actor_name", gettext_lazy("Done by"), actor_label),
                ("subject_label", gettext_lazy("Whose data")),
                ("field", gettext_lazy("Field"), field_labels),
                ("reason", gettext_lazy("Reason")),
                ("details", gettext_lazy("Details"), str),
                ("ip_address", gettext_lazy("IP address")),
            ),
        ),
        Trail(
            "accounts",
            gettext_lazy("Account changes"),
            AccountTrailFilter,
            AccountTrailTable,
            (
                ("created_at", gettext_lazy("Time")),
                ("account__number", gettext_lazy("Account")),
                ("transition", gettext_lazy("Action")),
                ("from_state", gettext_lazy("From state")),
                ("to_state", gettext_lazy("To state")),
                ("actor_name", gettext_lazy("Done by"), actor_label),
                ("channel", gettext_lazy("Channel")),
                ("reason", gettext_lazy("Reason")),
            ),
        ),
        Trail(
            "cases",
            gettext_lazy("Case timelines"),
            CaseTrailFilter,
            CaseTrailTable,
            (
                ("created_at", gettext_lazy("Time")),
                ("case_id", gettext_lazy("Case")),
                ("kind", gettext_lazy("Kind")),
                ("actor_name", gettext_lazy("Done by"), actor_label),
                ("from_status", gettext_lazy("From status")),
                ("to_status", gettext_lazy("To status")),
                ("text", gettext_lazy("Text")),
            ),
        ),
    )
}


# The lists an export is recorded under (``filtered_export``'s ``name``), as their pages call them.
EXPORTED_LISTS = {
    "accounts": gettext_lazy("Loan accounts"),
    "cases": gettext_lazy("Cases"),
    **{f"audit-{trail.slug}": trail.title for trail in TRAILS.values()},
}


@require_GET
@permission_required("portal.view_securityevent", raise_exception=True)
def audit_trail(request: HttpRequest, trail: str = "access") -> HttpResponseBase:
    chosen = TRAILS.get(trail)
    if chosen is None:
        raise Http404
    trail_filter = chosen.filterset(request.GET, queryset=chosen.queryset())
    export = filtered_export(
        request, trail_filter, name=f"audit-{chosen.slug}", columns=chosen.columns, order_by=("-created_at", "-id")
    )
    if export is not None:
        return export
    table = chosen.table(LargeQuerysetData(trail_filter.qs if trail_filter.is_valid() else chosen.queryset().none()))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    context = {"trail": chosen, "trails": TRAILS.values(), "filter": trail_filter, "table": table}
    return render(request, "portal/audit.html", {**context, **list_queries(request)})
