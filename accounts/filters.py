from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import EmptyCause, LoanAccount, Product, State
from accounts.policy import RiskTier
from portal.filters import DrillFilterSet

IN_STATE_FOR = {"1d": timedelta(days=1), "3d": timedelta(days=3), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class AccountFilter(DrillFilterSet):
    """The account list's filters. Drill accounts are left out unless asked for."""

    real_only_label = _("Real accounts only")
    drill_only_label = _("Drill accounts only")

    q = django_filters.CharFilter(
        label=_("Search"), method="search", help_text=_("Account number, customer name or credit code")
    )
    state = django_filters.ChoiceFilter(label=_("State"), choices=State.choices, empty_label=_("Any state"))
    empty_cause = django_filters.ChoiceFilter(
        label=_("Empty cause"), choices=EmptyCause.choices, empty_label=_("Any cause")
    )
    tier = django_filters.ChoiceFilter(
        label=_("Risk tier"), field_name="customer__risk_tier", choices=RiskTier.choices, empty_label=_("Any tier")
    )
    product = django_filters.ChoiceFilter(label=_("Product"), choices=Product.choices, empty_label=_("Any product"))
    channel = django_filters.CharFilter(label=_("Channel"), lookup_expr="icontains")
    in_state_for = django_filters.ChoiceFilter(
        label=_("In this state for"),
        method="filter_in_state_for",
        empty_label=_("Any time"),
        choices=[
            ("1d", _("more than 1 day")),
            ("3d", _("more than 3 days")),
            ("7d", _("more than 7 days")),
            ("30d", _("more than 30 days")),
        ],
    )

    class Meta:
        model = LoanAccount
        fields: list[str] = []

    def search(self, queryset: QuerySet[LoanAccount], name: str, value: str) -> QuerySet[LoanAccount]:
        value = value.strip()
        if not value:
            return queryset
        upper = value.upper()
        return queryset.filter(
            Q(number__startswith=upper) | Q(customer__credit_code=upper) | Q(customer__name__icontains=value)
        )

    def filter_in_state_for(self, queryset: QuerySet[LoanAccount], name: str, value: str) -> QuerySet[LoanAccount]:
        return queryset.filter(state_changed_at__lte=timezone.now() - IN_STATE_FOR[value])
