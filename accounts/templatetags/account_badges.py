"""An account's state badge and its "waiting for core banking" badge.

Written in Python rather than as included templates: they appear on every row of the account
list and every card of the board, where an include per badge costs more than the page's queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from portal.durations import since as time_since

register = template.Library()

STATE_BADGES = {
    "approved": "badge",
    "issued": "badge",
    "verifying": "badge badge-warn",
    "empty": "badge badge-bad",
    "active": "badge badge-ok",
    "closed": "badge badge-muted",
}


@register.simple_tag
def core_waiting_badge(kind: str | None, since: datetime | None) -> SafeString:
    """“core banking: activate, 3 minutes” while a command waits for core banking's answer."""
    if not kind or since is None:
        return SafeString()
    label = _("core banking: %(kind)s, %(age)s") % {"kind": kind, "age": time_since(since)}
    return format_html(
        ' <span class="badge badge-core" data-testid="core-waiting-badge" title="{}">{}</span>',
        _("Waiting for core banking"),
        label,
    )


@register.simple_tag
def state_badge(account: Any) -> SafeString:
    """The state (and empty cause), a drill mark, and the core-banking badge when annotated."""
    cause = format_html(": {}", account.get_empty_cause_display()) if account.empty_cause else ""
    badge = format_html(
        '<span class="{}">{}{}</span>', STATE_BADGES.get(account.state, "badge"), account.get_state_display(), cause
    )
    if account.is_drill:
        badge += format_html(' <span class="badge badge-drill">{}</span>', _("drill"))
    waiting = core_waiting_badge(getattr(account, "core_waiting", None), getattr(account, "core_waiting_since", None))
    return badge + waiting


@register.inclusion_tag("accounts/partials/personal.html", takes_context=True)
def personal(context: Any, account: Any, field: str) -> dict[str, Any]:
    """A customer's personal field, masked, with a *Reveal* form for those whose work needs it.

    ``may_reveal`` comes from the page's view (``accounts.reveal.may_reveal``).
    """
    from accounts.reveal import masked

    customer = account.customer
    return {
        "account": account,
        "field": field,
        "shown": masked(customer, field),
        "has_value": bool(masked(customer, field)),
        "may_reveal": context.get("may_reveal", False),
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }
