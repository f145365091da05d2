"""Display helpers shared by every page: money, masked contact data, durations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.translation import gettext as _

from portal.actors import actor_label, addressed_as, person_name
from portal.durations import since, until
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
    """A number of seconds for people, in their language: “3 d 4 h”, “2 h 05 min”; “3天4小时”, “12分钟”."""
    if seconds is None or seconds == "":
        return "—"
    total = round(float(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes and secs:
        return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": secs}
    if minutes:
        return _("%(minutes)d min") % {"minutes": minutes}
    return _("%(seconds)d s") % {"seconds": secs}


@register.filter(name="since")
def since_filter(value: datetime | None) -> str:
    """How long ago, in the reader's language: “3 days, 4 hours”, “3天4小时” (``timesince``, glossary style)."""
    return since(value) if value else ""


@register.filter(name="until")
def until_filter(value: datetime | None) -> str:
    """How long until, in the reader's language; ``timeuntil`` as the glossary writes it."""
    return until(value) if value else ""


@register.filter
def actor(name: str) -> str:
    """Who did it, as recorded on a row: a part of the system in the reader's language, a person as named."""
    return actor_label(name or "")


@register.filter
def person(user: Any) -> str:
    """A person as colleagues call them: “王芳” for a Chinese name, “Fang Wang” otherwise."""
    return person_name(user) if user else ""


@register.filter(name="addressed_as")
def addressed_as_filter(user: Any) -> str:
    """How a greeting names a person: 刘洋 for a Chinese name, the given name otherwise."""
    return addressed_as(user) if user else ""
