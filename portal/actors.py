"""Who did something: a signed-in staff member, or a part of the system (a job, core banking)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext, gettext_noop

# The parts of the system that act on accounts and cases, as their rows record them (in English,
# as reference data); shown in each reader's language by ``actor_label``.
SYSTEM_ACTORS = (
    gettext_noop("core banking"),
    gettext_noop("core banking (reconciliation)"),
    gettext_noop("core-banking"),
    gettext_noop("customer (activation page)"),
    gettext_noop("risk policy"),
    gettext_noop("activation-monitor"),
    gettext_noop("reactivation-batch"),
    gettext_noop("seed_demo"),
    gettext_noop("data-retention"),
    gettext_noop("initial setup"),  # the first version of each playbook (casework.defaults)
)


_CJK = re.compile(r"[\u3400-\u9fff]")


def person_name(user: Any) -> str:
    """A person as colleagues call them: “王芳” (family name first, no space) for a Chinese name,
    “Fang Wang” otherwise, the login when no name is set."""
    first, last = user.first_name.strip(), user.last_name.strip()
    if _CJK.search(first + last):
        return f"{last}{first}"
    return str(user.get_full_name() or user.get_username())


def addressed_as(user: Any) -> str:
    """How a greeting names a person: the whole name for a Chinese name (刘洋), the given name otherwise."""
    first = user.first_name.strip()
    if _CJK.search(first + user.last_name):
        return person_name(user)
    return str(first or user.get_username())


def actor_label(name: str) -> str:
    """A recorded actor's name for the reader: a system part in their language, a person as named."""
    return gettext(name) if name in SYSTEM_ACTORS else name


@dataclass(frozen=True)
class Actor:
    """Recorded on every audit row and timeline entry as a user (if any), a name and a channel."""

    user: User | None
    name: str
    channel: str

    @classmethod
    def staff(cls, user: User, channel: str = "web") -> Actor:
        return cls(user=user, name=person_name(user), channel=channel)

    @classmethod
    def system(cls, name: str, channel: str) -> Actor:
        return cls(user=None, name=name, channel=channel)
