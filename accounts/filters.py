from __future__ import annotations

import datetime as dt
from datetime import timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import EmptyCause, LoanAccount, Product, State
from accounts.policy import RiskTier
from accounts.selectors import freed_q
from portal.filters import DrillFilterSet


def iso_week_monday(value: str) -> dt.date:
    """The Monday of an ISO week written ``2026-W47``."""
    try:
        year, number = value.strip().upper().split("-W")
        return dt.date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValidationError(_("Write a week as year and week number, e.g. 2026-W47.")) from None


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
    freed_in = django_filters.CharFilter(
        label=_("Freed in week"),
        method="filter_freed_in",
        validators=[iso_week_monday],
        widget=forms.TextInput(attrs={"placeholder": "2026-W47"}),
        help_text=_("Activated in this ISO week after having been in the empty-card state"),
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

    def filter_freed_in(self, queryset: QuerySet[LoanAccount], name: str, value: str) -> QuerySet[LoanAccount]:
        start = timezone.make_aware(dt.datetime.combine(iso_week_monday(value), dt.time.min))
        return queryset.filter(freed_q(start, start + timedelta(days=7)))
