"""Who did something: a signed-in staff member, or a part of the system (a job, core banking)."""

from __future__ import annotations

from dataclasses import dataclass

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
)


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
        return cls(user=user, name=user.get_full_name() or user.get_username(), channel=channel)

    @classmethod
    def system(cls, name: str, channel: str) -> Actor:
        return cls(user=None, name=name, channel=channel)
