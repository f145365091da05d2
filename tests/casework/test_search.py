"""The search box of the case list and the board: account number, customer name, mobile (never shown)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.models import Case
from casework.services import case_open_for_account
from tests.factories import CustomerFactory, make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")
MOBILE = "13912345678"


@pytest.fixture
def jinjiang() -> Case:
    customer = CustomerFactory(name="成都锦江进出口贸易有限公司", contact_mobile=MOBILE)
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=customer, number="LA7700000001")
    return case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)


@pytest.fixture
def other() -> Case:
    customer = CustomerFactory(name="上海浦东机械制造有限公司", contact_mobile="13987650000")
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=customer, number="LA8800000002")
    return case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)


def found(client: Client, query: str) -> list[int]:
    response = client.get(reverse("casework:list"), {"q": query}, follow=True)
    return [row.record.pk for row in response.context["table"].page.object_list]


def on_board(client: Client, query: str) -> list[int]:
    response = client.get(reverse("casework:board"), {"q": query}, follow=True)
    return [card.pk for lane in response.context["lanes"] for cell in lane.cells for card in cell.cards]


def test_it_finds_a_case_by_account_number_exact_or_prefix_in_any_case(client: Client, lead, jinjiang, other) -> None:
    client.force_login(lead)
    assert found(client, "LA7700000001") == [jinjiang.pk]
    assert found(client, "la77") == [jinjiang.pk]
    assert found(client, " LA88 ") == [other.pk]
    assert found(client, "LA") == sorted([jinjiang.pk, other.pk])
    assert found(client, "LA99") == []
    assert on_board(client, "la7700000001") == [jinjiang.pk]


def test_it_finds_a_case_by_a_chinese_part_of_the_customers_name(client: Client, lead, jinjiang, other) -> None:
    client.force_login(lead)
    assert found(client, "锦江") == [jinjiang.pk]
    assert found(client, "有限公司") == sorted([jinjiang.pk, other.pk])
    assert on_board(client, "浦东") == [other.pk]


def test_it_finds_a_case_by_the_full_mobile_without_showing_it(client: Client, lead, jinjiang, other) -> None:
    client.force_login(lead)
    for url in (reverse("casework:list"), reverse("casework:board")):
        response = client.get(url, {"q": MOBILE, "cause": "customer_incomplete"})
        # The number goes into the session, and the page is asked again with its mask only.
        assert response.status_code == 302 and MOBILE not in response["Location"]
        response = client.get(response["Location"])
        page = response.content.decode()
        assert MOBILE not in page and 'value="139****5678"' in page
        assert next(iter(response.context["filter"].form.fields)) == "q"  # the search box comes first
        assert jinjiang.account.number in page and other.account.number not in page
    assert found(client, "139 1234 5678") == [jinjiang.pk]
    assert on_board(client, "139-1234-5678") == [jinjiang.pk]


def test_it_finds_a_case_by_the_last_four_digits_of_the_mobile(client: Client, lead, jinjiang, other) -> None:
    client.force_login(lead)
    assert found(client, "5678") == [jinjiang.pk]
    assert found(client, "0000") == [other.pk]
    assert found(client, "1234") == []  # the middle of a number is not its end
    assert on_board(client, "5678") == [jinjiang.pk]


def test_a_masked_mobile_from_someone_elses_search_finds_what_its_mask_shows(
    client: Client, lead, jinjiang, other
) -> None:
    twin = CustomerFactory(name="Twin", contact_mobile="13900005678")  # the same mask as MOBILE
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=twin, number="LA9900000003")
    twin_case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    client.force_login(lead)
    assert found(client, "139****5678") == sorted([jinjiang.pk, twin_case.pk])  # nothing searched here yet
    assert found(client, MOBILE) == [jinjiang.pk]  # searched here: the exact number behind the mask
    assert found(client, "139****5678") == [jinjiang.pk]


def test_the_search_respects_who_may_see_which_case(client: Client, service, jinjiang) -> None:
    credit_account = make_account(State.EMPTY, EmptyCause.RISK_HOLD, customer=jinjiang.account.customer)
    credit_case = case_open_for_account(account=credit_account, cause=EmptyCause.RISK_HOLD, actor=JOB)
    client.force_login(service)
    assert found(client, "锦江") == [jinjiang.pk]
    assert credit_case.pk not in found(client, MOBILE)


def test_searching_costs_the_same_queries(client: Client, lead, jinjiang, other, django_assert_num_queries) -> None:
    client.force_login(lead)
    client.get(reverse("casework:board"))
    client.get(reverse("casework:list"))
    # The pinned counts of tests/casework/test_pages.py: the board's 15 and the list's 12 (for an agent;
    # the lead's filter choices are the same queries).
    for url, queries in ((reverse("casework:board"), 15), (reverse("casework:list"), 12)):
        with django_assert_num_queries(queries):
            client.get(url)
        for query in ("锦江", "LA77", "5678", "139****5678"):
            with django_assert_num_queries(queries):
                assert client.get(url, {"q": query}).status_code == 200
