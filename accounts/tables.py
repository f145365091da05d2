from __future__ import annotations

import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from accounts.models import LoanAccount


class AccountTable(tables.Table):
    """The account list's header, ordering and pagination; its rows are written by its template.

    A page shows 25 accounts of nine cells each: rendering them in one template, rather than
    cell by cell through each column's ``render_*``, is what keeps the page faster than the
    admin's changelist over the same rows. Add a column here and its cell in the template.
    """

    number = tables.Column(verbose_name=_("Account"))
    customer = tables.Column(verbose_name=_("Customer"), accessor="customer__name", order_by="customer__name")
    tier = tables.Column(verbose_name=_("Tier"), accessor="customer__risk_tier", order_by="customer__risk_tier")
    product = tables.Column(verbose_name=_("Product"))
    channel = tables.Column(verbose_name=_("Channel"))
    state = tables.Column(verbose_name=_("State"), order_by=("state", "empty_cause"))
    approved_limit = tables.Column(
        verbose_name=_("Approved limit"), attrs={"td": {"class": "num"}, "th": {"class": "num"}}
    )
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
        template_name = "accounts/partials/account_table.html"
