"""Personal data on a need-to-know basis: masked everywhere, revealed with a reason, every access recorded."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import CoreEvent, EmptyCause, LoanAccount, State
from accounts.services import Actor
from casework.models import Case
from casework.services import case_open_for_account
from portal import roles
from portal.models import SecurityEvent
from tests.factories import CustomerFactory, make_account, make_staff
from tests.html import downloaded

pytestmark = pytest.mark.django_db

MOBILE = "13912345678"
EMAIL = "finance@example.cn"
CODE = "91110108MA01ABCD3X"


def customer_account() -> LoanAccount:
    customer = CustomerFactory.create(contact_mobile=MOBILE, email=EMAIL)
    return make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=customer)


def staff(role: roles.Role) -> User:
    return User.objects.get(pk=make_staff(f"who-{role.slug}", role, [role.home_department or "tech"]).pk)


def reveal(client: Client, account, field: str = "mobile", reason: str = "customer asked for a call back", **headers):
    return client.post(
        reverse("accounts:reveal", args=[account.number]),
        {"field": field, "reason": reason, "next": account.get_absolute_url()},
        headers=headers,
    )


def test_pages_show_personal_data_masked(client: Client, credit) -> None:
    account = customer_account()
    client.force_login(credit)
    page = client.get(account.get_absolute_url()).content.decode()
    assert "139****5678" in page and "f***@example.cn" in page
    assert MOBILE not in page and EMAIL not in page and account.customer.credit_code not in page
    assert reverse("accounts:reveal", args=[account.number]) in page  # a credit officer may reveal


def test_a_credit_officer_reveals_a_mobile_with_a_reason_and_the_access_is_recorded(client: Client, credit) -> None:
    account = customer_account()
    client.force_login(credit)
    response = reveal(client, account)
    assert response.status_code == 200 and MOBILE in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    record = SecurityEvent.objects.get(kind=SecurityEvent.Kind.REVEAL)
    assert (record.actor, record.subject_id, record.field, record.reason) == (
        credit,
        account.customer_id,
        "contact_mobile",
        "customer asked for a call back",
    )
    assert account.number in record.subject_label
    assert MOBILE not in str(record.details) + record.subject_label  # the log names whose data, never the value


def test_with_htmx_the_value_replaces_the_masked_one_in_place(client: Client, credit) -> None:
    account = customer_account()
    client.force_login(credit)
    response = reveal(client, account, field="email", **{"HX-Request": "true"})
    body = response.content.decode()
    assert EMAIL in body and 'id="personal-email"' in body and "<html" not in body


@pytest.mark.parametrize("reason", ["", "  ", "ok"])
def test_no_reason_no_value(client: Client, credit, reason: str) -> None:
    account = customer_account()
    client.force_login(credit)
    response = reveal(client, account, reason=reason)
    assert response.status_code == 400
    assert MOBILE not in response.content.decode()
    assert "access log" in response.content.decode()
    assert not SecurityEvent.objects.exists()


def test_a_service_agent_reveals_the_customers_of_their_cases_only(client: Client, service) -> None:
    theirs = customer_account()
    case_open_for_account(account=theirs, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=Actor.system("t", "job"))
    assert Case.objects.get(account=theirs).department_id == "service"
    other = customer_account()  # no case in the agent's department
    client.force_login(service)

    assert reveal(client, theirs).status_code == 200
    assert reveal(client, other).status_code == 404
    assert reverse("accounts:reveal", args=[other.number]) not in client.get(other.get_absolute_url()).content.decode()
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.REVEAL).count() == 1


def test_a_service_agent_cannot_reveal_for_a_credit_only_case(client: Client, service) -> None:
    customer = CustomerFactory.create(contact_mobile=MOBILE, email=EMAIL)
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD, customer=customer)
    case = case_open_for_account(account=account, cause=EmptyCause.RISK_HOLD, actor=Actor.system("t", "job"))
    assert case.department_id == "credit"
    client.force_login(service)
    assert client.get(reverse("casework:detail", args=[case.pk])).status_code == 404
    assert reveal(client, account).status_code == 404


@pytest.mark.parametrize("role", [roles.TECH_ENGINEER, roles.AUDITOR])
def test_roles_that_do_not_need_personal_data_cannot_reveal_it(client: Client, role) -> None:
    account = customer_account()
    client.force_login(staff(role))
    assert reveal(client, account).status_code == 403
    assert (
        reverse("accounts:reveal", args=[account.number]) not in client.get(account.get_absolute_url()).content.decode()
    )
    assert not SecurityEvent.objects.exists()


def test_exports_carry_personal_columns_only_for_those_who_may_reveal_and_are_recorded(
    client: Client, credit, tech
) -> None:
    account = customer_account()
    header = "Unified social credit code"
    client.force_login(credit)
    allowed = downloaded(client.get(reverse("accounts:list") + "?state=empty&export=csv"))
    client.force_login(tech)
    refused = downloaded(client.get(reverse("accounts:list") + "?state=empty&export=csv"))

    assert header in allowed and account.customer.credit_code in allowed
    assert header not in refused and account.customer.credit_code not in refused and account.number in refused
    first, second = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.EXPORT).order_by("id")
    assert first.actor == credit and first.details["rows"] == 1 and first.details["filter"] == {"state": ["empty"]}
    assert first.details["personal_columns"] == ["customer__credit_code"]
    assert second.actor == tech and second.details["personal_columns"] == []


def test_the_admin_shows_customers_masked(client: Client, admin_user) -> None:
    account = customer_account()
    client.force_login(admin_user)
    listing = client.get(reverse("admin:accounts_customer_changelist")).content.decode()
    change = client.get(reverse("admin:accounts_customer_change", args=[account.customer_id])).content.decode()
    for page in (listing, change):
        assert account.customer.credit_code not in page
        assert MOBILE not in page and EMAIL not in page
    assert "139****5678" in change
    found = client.get(reverse("admin:accounts_customer_changelist"), {"q": account.customer.credit_code})
    assert account.customer.name in found.content.decode()  # found by its full code, still shown masked


def test_the_admin_shows_core_banking_events_with_the_customer_masked(client: Client, admin_user) -> None:
    account = customer_account()
    event = CoreEvent.objects.create(
        event_id="evt-1",
        event_type="loan.approved",
        account=account,
        payload={"data": {"customer": {"contact_mobile": MOBILE, "email": EMAIL, "credit_code": CODE}}},
        outcome="created",
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:accounts_coreevent_change", args=[event.pk])).content.decode()
    assert "139****5678" in page and "9111" in page
    assert MOBILE not in page and EMAIL not in page and CODE not in page


def test_an_export_with_personal_columns_wants_a_recent_confirmation(client: Client, credit, tech) -> None:
    customer_account()
    with time_machine.travel(timezone.now() - timedelta(minutes=30), tick=False):
        client.force_login(credit)
    response = client.get(reverse("accounts:list"), {"state": "empty", "export": "csv"})
    assert response.status_code == 302
    assert response["Location"] == reverse("confirm") + "?" + urlencode({"next": "/accounts/?state=empty"})
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.EXPORT).exists()

    with time_machine.travel(timezone.now() - timedelta(minutes=30), tick=False):
        client.force_login(tech)  # no personal columns for tech: nothing to confirm
    assert client.get(reverse("accounts:list"), {"state": "empty", "export": "csv"}).status_code == 200
