from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from accounts.models import LoanAccount
from portal.templatetags.desk import cny


class AccountTable(tables.Table):
    number = tables.Column(verbose_name=_("Account"), linkify=lambda record: record.get_absolute_url())
    customer = tables.Column(verbose_name=_("Customer"), accessor="customer__name", order_by="customer__name")
    tier = tables.Column(verbose_name=_("Tier"), accessor="customer__risk_tier", order_by="customer__risk_tier")
    product = tables.Column(verbose_name=_("Product"))
    channel = tables.Column(verbose_name=_("Channel"))
    state = tables.Column(verbose_name=_("State"), order_by=("state", "empty_cause"))
    approved_limit = tables.Column(verbose_name=_("Approved"), attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    released_limit = tables.Column(verbose_name=_("Released"), attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    state_changed_at = tables.Column(verbose_name=_("In state for"))

    class Meta:
        model = LoanAccount
        fields = (
            "number",
            "customer",
            "tier",
            "product",
            "channel",
            "state",
            "approved_limit",
            "released_limit",
            "state_changed_at",
        )
        order_by = "-state_changed_at"
        empty_text = _("No account matches these filters. Clear a filter or search for something else.")
        attrs = {"class": "data-table"}

    def render_tier(self, record: LoanAccount) -> str:
        return record.customer.get_risk_tier_display()

    def render_product(self, record: LoanAccount) -> str:
        return record.get_product_display()

    def render_state(self, record: LoanAccount) -> Any:
        return render_to_string("accounts/partials/state_badge.html", {"account": record})

    def render_approved_limit(self, value: Any) -> str:
        return cny(value)

    def render_released_limit(self, value: Any) -> str:
        return cny(value)

    def render_state_changed_at(self, value: Any) -> Any:
        return format_html('<span title="{}">{}</span>', value, timesince(value))
