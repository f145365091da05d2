from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from casework.models import Case, CaseCause, CaseStudy, Priority, Status
from casework.selectors import overdue_q
from portal.actors import person_name
from portal.filters import DrillFilterSet
from portal.models import Department


class CaseFilter(DrillFilterSet):
    """Filters of the board and the case lists. Drill cases are left out unless asked for."""

    real_only_label = _("Real cases only")
    drill_only_label = _("Drill cases only")

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
        self.filters["assignee"].field.label_from_instance = lambda user: person_name(user)
        self.filters["department"].extra["choices"] = [
            (department.code, str(department)) for department in Department.objects.order_by("code")
        ]

    def filter_overdue(self, queryset: QuerySet[Case], name: str, value: bool | None) -> QuerySet[Case]:
        return queryset.filter(overdue_q()) if value else queryset


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
