"""What every list's filters share."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DrillFilterSet(django_filters.FilterSet):
    """Filters over rows that may be drill data (``is_drill``): drill rows are left out unless asked for."""

    real_only_label: str | Promise = _("Real data only")
    drill_only_label: str | Promise = _("Drill data only")

    drill = django_filters.ChoiceFilter(label=_("Drill data"), method="filter_drill")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        drill = self.filters["drill"]
        drill.extra["empty_label"] = self.real_only_label
        drill.extra["choices"] = [("only", self.drill_only_label), ("all", _("Real and drill"))]

    def filter_drill(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(is_drill=True) if value == "only" else queryset

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("drill"):
            queryset = queryset.filter(is_drill=False)
        return queryset
