"""Who did something: a signed-in staff member, or a part of the system (a job, core banking)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User


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
