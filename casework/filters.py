from __future__ import annotations

import re
from typing import Any

import django_filters
from django import forms
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from casework.models import Case, CaseCause, CaseStudy, Priority, Status
from casework.selectors import overdue_q
from portal.actors import person_name
from portal.filters import DrillFilterSet
from portal.masking import mask_mobile
from portal.models import Department

MOBILE = re.compile(r"1[3-9]\d{9}")  # a mainland mobile, as accounts.validators accepts it
MASKED_MOBILE = re.compile(r"1[3-9]\d\*{4}\d{4}")  # as portal.masking shows it: 138****5678
# The full mobile a person last searched for: the pages and their links carry only its mask.
SEARCHED_MOBILE = "case_search_mobile"


def _full_mobile(value: str) -> str | None:
    """The 11 digits of a mobile typed in the search box (spaces and dashes allowed), or None."""
    digits = re.sub(r"[\s-]", "", value)
    return digits if MOBILE.fullmatch(digits) else None


def hide_searched_mobile(request: HttpRequest) -> HttpResponseRedirect | None:
    """A search for a full mobile: kept in the session, and the page asked again with it masked.

    The search box, the address bar, the history and every paging, sorting and export link then
    carry ``138****5678`` only, which ``CaseFilter`` reads back as the number kept here; the
    digits reach the server once, in this request, and are never sent back to the browser.
    """
    mobile = _full_mobile(request.GET.get("q", ""))
    if mobile is None:
        return None
    request.session[SEARCHED_MOBILE] = mobile
    query = request.GET.copy()
    query["q"] = mask_mobile(mobile)
    return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")


class CaseFilter(DrillFilterSet):
    """Filters of the board and the case lists. Drill cases are left out unless asked for."""

    real_only_label = _("Real cases only")
    drill_only_label = _("Drill cases only")

    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        help_text=_("Account number, customer name, or the contact's mobile (all 11 digits or the last 4)"),
    )
    # Plain choices, read once per request (in __init__): validating a chosen department and
    # drawing the menu then cost one query together.
    department = django_filters.ChoiceFilter(
        label=_("Department"), field_name="department_id", empty_label=_("All departments")
    )
    assignee = django_filters.ModelChoiceFilter(
        label=_("Assignee"),
        queryset=User.objects.filter(is_active=True, groups__permissions__codename="work_case")
        .distinct()
        .order_by("first_name", "username"),
        empty_label=_("Anyone"),
    )
    cause = django_filters.ChoiceFilter(label=_("Cause"), choices=CaseCause.choices, empty_label=_("Any cause"))
    priority = django_filters.ChoiceFilter(label=_("Priority"), choices=Priority.choices, empty_label=_("Any"))
    overdue = django_filters.BooleanFilter(label=_("Overdue only"), method="filter_overdue", widget=forms.CheckboxInput)

    class Meta:
        model = Case
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters.move_to_end("q", last=False)  # the search box comes first
        self.filters["assignee"].field.label_from_instance = lambda user: person_name(user)
        self.filters["department"].extra["choices"] = [
            (department.code, str(department)) for department in Department.objects.order_by("code")
        ]

    def filter_overdue(self, queryset: QuerySet[Case], name: str, value: bool | None) -> QuerySet[Case]:
        return queryset.filter(overdue_q()) if value else queryset

    def search(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        """Cases whose account number starts with the text, whose customer's name contains it, or
        whose contact mobile is it (all 11 digits, its last 4, or its mask: see ``hide_searched_mobile``)."""
        value = value.strip()
        if not value:
            return queryset
        match = Q(account__number__startswith=value.upper()) | Q(account__customer__name__icontains=value)
        mobile = _full_mobile(value)
        if mobile is None and MASKED_MOBILE.fullmatch(value):
            searched = self.request.session.get(SEARCHED_MOBILE, "") if self.request is not None else ""
            if mask_mobile(searched) == value:
                mobile = searched
            else:  # a link from someone else's search: the mask's own digits, which it shows anyway
                match = Q(account__customer__contact_mobile__startswith=value[:3]) & Q(
                    account__customer__contact_mobile__endswith=value[-4:]
                )
        if mobile is not None:
            match |= Q(account__customer__contact_mobile=mobile)
        elif value.isdigit() and len(value) == 4:
            match |= Q(account__customer__contact_mobile__endswith=value)
        return queryset.filter(match)


class CaseListFilter(CaseFilter):
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"), choices=Status.choices, widget=django_filters.widgets.CSVWidget
    )


class CaseStudyFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"), method="search", help_text=_("Words from the title, summary, root cause or lessons")
    )
    cause = django_filters.ChoiceFilter(label=_("Cause"), choices=CaseCause.choices, empty_label=_("Any cause"))
    outcome = django_filters.ChoiceFilter(
        label=_("Classified as"), choices=CaseStudy.Outcome.choices, empty_label=_("Successes and problems")
    )

    class Meta:
        model = CaseStudy
        fields: list[str] = []

    def search(self, queryset: QuerySet[CaseStudy], name: str, value: str) -> QuerySet[CaseStudy]:
        """Every word must appear in one of the texts (case studies are few: a scan is fine)."""
        for word in value.split()[:8]:
            queryset = queryset.filter(
                Q(title__icontains=word)
                | Q(summary__icontains=word)
                | Q(root_cause__icontains=word)
                | Q(what_worked__icontains=word)
                | Q(what_to_change__icontains=word)
                | Q(source_label__icontains=word)
            )
        return queryset
