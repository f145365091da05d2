"""Display helpers shared by every page: money, masked contact data, state badges."""

from __future__ import annotations

from decimal import Decimal

from django import template

from accounts.validators import mask_email as _mask_email
from accounts.validators import mask_mobile as _mask_mobile

register = template.Library()

STATE_BADGES = {
    "approved": "badge",
    "issued": "badge",
    "verifying": "badge badge-warn",
    "empty": "badge badge-bad",
    "active": "badge badge-ok",
    "closed": "badge badge-muted",
}


@register.filter
def cny(value: Decimal | int | float | None) -> str:
    """¥1,234,567.00"""
    if value is None or value == "":
        return "—"
    return f"¥{Decimal(value):,.2f}"


@register.filter
def mask_mobile(value: str) -> str:
    return _mask_mobile(value or "")


@register.filter
def mask_email(value: str) -> str:
    return _mask_email(value) if value else "—"


@register.filter
def state_badge_class(state: str) -> str:
    return STATE_BADGES.get(state, "badge")
