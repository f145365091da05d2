"""The roles exist as groups with exactly their permissions, from the migrations alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from portal import roles
from portal.models import Department

pytestmark = pytest.mark.django_db


def codes(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_it_creates_every_role_and_department_on_migrate() -> None:
    assert set(Group.objects.values_list("name", flat=True)) == {role.group_name for role in roles.ROLES}
    assert set(Department.objects.values_list("code", flat=True)) == {"credit", "tech", "service"}


def expand(specs: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for spec in specs:
        app_label, codename = spec.split(".")
        matching = Permission.objects.filter(content_type__app_label=app_label)
        matching = (
            matching.filter(codename__startswith=codename[:-1])
            if codename.endswith("*")
            else matching.filter(codename=codename)
        )
        assert matching.exists(), f"{spec} names no permission"
        found |= {f"{app_label}.{p.codename}" for p in matching}
    return found


@pytest.mark.parametrize("role", [roles.SERVICE_AGENT, roles.TECH_ENGINEER, roles.CREDIT_OFFICER, roles.TEAM_LEAD])
def test_it_gives_working_roles_their_declared_permissions(role: roles.Role) -> None:
    assert codes(Group.objects.get(name=role.group_name)) == expand(role.permissions)


def test_only_credit_and_leads_may_hold_and_release() -> None:
    for role in roles.ROLES:
        granted = codes(Group.objects.get(name=role.group_name))
        may_hold = "accounts.hold_loanaccount" in granted
        assert may_hold == (role in (roles.CREDIT_OFFICER, roles.TEAM_LEAD, roles.ADMIN)), role.slug


def test_it_lets_the_auditor_read_everything_and_change_nothing() -> None:
    roles.sync_roles()  # apps migrated after the portal's role migration are included too
    granted = codes(Group.objects.get(name=roles.AUDITOR.group_name))
    every_view = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type").filter(codename__startswith="view_")
    }
    assert every_view <= granted
    assert all(code.split(".")[1].startswith("view_") for code in granted)


def test_it_gives_the_admin_role_every_permission() -> None:
    roles.sync_roles()
    assert Group.objects.get(name=roles.ADMIN.group_name).permissions.count() == Permission.objects.count()


def test_it_is_safe_to_sync_the_roles_again() -> None:
    before = {group.name: codes(group) for group in Group.objects.all()}
    roles.sync_roles()
    roles.sync_roles()
    after = {group.name: codes(group) for group in Group.objects.all()}
    assert set(after) == set(before)
    assert after[roles.SERVICE_AGENT.group_name] == before[roles.SERVICE_AGENT.group_name]
