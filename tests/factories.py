"""Test data. Staff go through the same service as real logins."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractUser

from portal.roles import Role
from portal.services import staff_member_save

TEST_PASSWORD = "a-long-test-password"


def make_staff(username: str, role: Role, departments: Sequence[str] = ()) -> AbstractUser:
    return staff_member_save(
        username=username,
        role=role,
        departments=departments,
        first_name=username.capitalize(),
        last_name="Tester",
        password=TEST_PASSWORD,
    )
