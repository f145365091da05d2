"""Writes for staff: the one place a login gets its role and departments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal import roles
from portal.models import Department, StaffProfile
from portal.roles import Role

DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo logins, refused in production


@transaction.atomic
def staff_member_save(
    *,
    username: str,
    role: Role,
    departments: Sequence[str] = (),
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    password: str | None = None,
) -> AbstractUser:
    """Create or update a staff login with exactly one role and the given departments.

    Admins are superusers and staff (they use the admin site); nobody else is.
    Raises ``ValidationError`` for an unknown department or bad user fields; nothing is
    written in that case.
    """
    known = list(Department.objects.filter(code__in=departments))
    unknown = sorted(set(departments) - {department.code for department in known})
    if unknown:
        raise ValidationError(_("Unknown department: %(codes)s.") % {"codes": ", ".join(unknown)})
    try:
        group = Group.objects.get(name=role.group_name)
    except Group.DoesNotExist:
        raise ValidationError(
            _("The role %(role)s does not exist yet; run the migrations first.") % {"role": role.label}
        ) from None

    user_model = get_user_model()
    user, _created = user_model.objects.get_or_create(username=username)
    user.first_name = first_name
    user.last_name = last_name
    user.email = email
    user.is_superuser = user.is_staff = role is roles.ADMIN
    user.is_active = True
    if password is not None:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.set([group])
    profile, _created = StaffProfile.objects.get_or_create(user=user)
    profile.departments.set(known)
    return user


def staff_language_save(*, user: AbstractUser, language: str) -> None:
    """The language this person's pages are in, on whichever browser they sign in from."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"{language!r} is not one of the portal's languages")
    StaffProfile.objects.update_or_create(user_id=user.pk, defaults={"language": language})


@dataclass(frozen=True)
class DemoStaff:
    username: str
    first_name: str
    last_name: str
    role: Role
    departments: tuple[str, ...]


DEMO_STAFF: tuple[DemoStaff, ...] = (
    # Given name, family name: shown family name first, as 王芳 (``portal.actors.person_name``).
    DemoStaff("service", "芳", "王", roles.SERVICE_AGENT, ("service",)),
    DemoStaff("tech", "伟", "李", roles.TECH_ENGINEER, ("tech",)),
    DemoStaff("credit", "敏", "张", roles.CREDIT_OFFICER, ("credit",)),
    DemoStaff("credit2", "杰", "陈", roles.CREDIT_OFFICER, ("credit",)),
    DemoStaff("lead", "洋", "刘", roles.TEAM_LEAD, ("credit", "service", "tech")),
    DemoStaff("auditor", "磊", "赵", roles.AUDITOR, ()),
    DemoStaff("admin", "管理员", "系统", roles.ADMIN, ()),
)


@transaction.atomic
def demo_staff_ensure() -> list[DemoStaff]:
    """Make the demo logins exist with their role, departments and the demo password."""
    roles.sync_roles()
    for member in DEMO_STAFF:
        staff_member_save(
            username=member.username,
            role=member.role,
            departments=member.departments,
            first_name=member.first_name,
            last_name=member.last_name,
            email=f"{member.username}@desk.example",
            password=DEMO_PASSWORD,
        )
    return list(DEMO_STAFF)
