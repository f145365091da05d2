"""Durations for people, in their language: “3 days, 4 hours” in English, “3天4小时” in Chinese.

Django's ``timesince`` joins its units with its own ", " (“3 小时，58 分钟” in Chinese); the
glossary writes durations without spaces or separators. The two largest adjacent units are
shown, as ``timesince`` does; the unit strings are Django's own msgids, so this catalogue's
wording is also what Django's ``timesince`` shows.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.html import avoid_wrapping
from django.utils.translation import gettext, ngettext_lazy

UNITS = (
    (365 * 86400, ngettext_lazy("%(num)d year", "%(num)d years", "num")),
    (30 * 86400, ngettext_lazy("%(num)d month", "%(num)d months", "num")),
    (7 * 86400, ngettext_lazy("%(num)d week", "%(num)d weeks", "num")),
    (86400, ngettext_lazy("%(num)d day", "%(num)d days", "num")),
    (3600, ngettext_lazy("%(num)d hour", "%(num)d hours", "num")),
    (60, ngettext_lazy("%(num)d minute", "%(num)d minutes", "num")),
)


def duration_words(seconds: float, depth: int = 2) -> str:
    """``seconds`` as at most ``depth`` adjacent units, largest first; under a minute is “0 minutes”."""
    rest = max(0, int(seconds))
    counts = []
    for size, _name in UNITS:
        counts.append(rest // size)
        rest %= size
    first = next((index for index, count in enumerate(counts) if count), None)
    if first is None:
        return avoid_wrapping(UNITS[-1][1] % {"num": 0})
    parts = []
    for index in range(first, min(first + depth, len(UNITS))):
        if not counts[index]:
            break
        parts.append(avoid_wrapping(UNITS[index][1] % {"num": counts[index]}))  # “3 days” never split
    if len(parts) == 1:
        return str(parts[0])
    return gettext("%(larger)s, %(smaller)s") % {"larger": parts[0], "smaller": parts[1]}


def since(moment: datetime, now: datetime | None = None) -> str:
    """How long ago ``moment`` was (nothing negative: a moment in the future is “0 minutes”)."""
    return duration_words(((now or timezone.now()) - moment).total_seconds())


def until(moment: datetime, now: datetime | None = None) -> str:
    """How long until ``moment``, from ``now`` (by default: this moment)."""
    return duration_words((moment - (now or timezone.now())).total_seconds())
