"""``/audit/``: the auditors' view of the trail, filterable, exportable, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, EmptyCause, State
from accounts.services import Actor, account_transition
from casework.services import case_open_for_account
from portal import audit, roles
from portal.models import SecurityEvent
from tests.factories import make_account, make_staff
from tests.html import downloaded

pytestmark = pytest.mark.django_db


def reveals(count: int, actor) -> None:
    for n in range(count):
        audit.record(
            SecurityEvent.Kind.REVEAL,
            actor=actor,
            subject_id=n,
            subject_label=f"LA{n:010d} Customer {n}",
            field="contact_mobile",
            reason=f"call back {n}",
        )


def test_the_auditor_reads_each_trail(client: Client, auditor, credit) -> None:
    reveals(2, credit)
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(credit), reason="fraud check")
    empty = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=empty, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=Actor.system("t", "job"))
    client.force_login(auditor)

    access = client.get(reverse("audit")).content.decode()
    assert "call back 1" in access and "Personal data revealed" in access and "contact mobile" in access
    accounts = client.get(reverse("audit", args=["accounts"])).content.decode()
    assert account.number in accounts and "fraud check" in accounts
    cases = client.get(reverse("audit", args=["cases"])).content.decode()
    assert str(case.pk) in cases
    assert client.get(reverse("audit", args=["nothing"])).status_code == 404


def test_filters_narrow_the_trail(client: Client, auditor, credit, service) -> None:
    reveals(3, credit)
    audit.record(SecurityEvent.Kind.SIGN_IN, actor=service)
    client.force_login(auditor)
    page = client.get(reverse("audit"), {"kind": "sign_in"}).content.decode()
    assert "Signed in" in page and "call back" not in page
    page = client.get(reverse("audit"), {"subject": "Customer 2"}).content.decode()
    assert "call back 2" in page and "call back 1" not in page
    bad = client.get(reverse("audit"), {"since": "yesterday"})
    assert bad.status_code == 200 and "Enter a valid date." in bad.content.decode()


def test_an_export_of_the_trail_is_itself_recorded(client: Client, auditor, credit) -> None:
    reveals(3, credit)
    client.force_login(auditor)
    text = downloaded(client.get(reverse("audit"), {"kind": "reveal", "export": "csv"}))
    assert text.count("call back") == 3 and "contact mobile" in text
    export = SecurityEvent.objects.get(kind=SecurityEvent.Kind.EXPORT)
    assert export.actor == auditor and export.details["rows"] == 3 and export.details["list"] == "audit-access"


@pytest.mark.parametrize("role", [r for r in roles.ROLES if r not in (roles.AUDITOR, roles.ADMIN)])
def test_only_auditors_and_admins_read_the_trail(client: Client, role) -> None:
    client.force_login(User.objects.get(pk=make_staff(f"who-{role.slug}", role, [role.home_department or "tech"]).pk))
    assert client.get(reverse("audit")).status_code == 403
    assert b'href="/audit/"' not in client.get(reverse("dashboard")).content


@pytest.mark.parametrize("trail", ["access", "accounts", "cases"])
def test_each_trail_pins_its_query_count(client: Client, auditor, credit, trail, django_assert_num_queries) -> None:
    def grow(count: int) -> None:
        reveals(count, credit)
        for _ in range(count // 5):
            account = make_account(State.ACTIVE)
            account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(credit), reason="r")
            empty = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
            case_open_for_account(account=empty, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=Actor.system("t", "job"))

    client.force_login(auditor)
    grow(5)
    client.get(reverse("audit", args=[trail]))
    # session, user, permissions (2), the count, the page's keys and rows, the header's roles and departments
    with django_assert_num_queries(9):
        client.get(reverse("audit", args=[trail]))
    grow(60)
    assert AuditEntry.objects.count() >= 12
    with django_assert_num_queries(9):
        client.get(reverse("audit", args=[trail]))
