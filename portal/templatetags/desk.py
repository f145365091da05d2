"""Display helpers shared by every page: money, masked contact data, durations."""

from __future__ import annotations

from decimal import Decimal

from django import template

from portal.masking import mask_email as _mask_email
from portal.masking import mask_mobile as _mask_mobile

register = template.Library()


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
def duration(seconds: float | int | None) -> str:
    """A number of seconds for people: “45 s”, “4 min 10 s”, “2 h 05 min”, “3 d 4 h”."""
    if seconds is None or seconds == "":
        return "—"
    total = round(float(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
