"""The account list and the account page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, CoreCommand, EmptyCause, LoanAccount, State
from accounts.services import Actor
from casework.models import Case, Status
from casework.services import case_open_for_account
from tests.factories import CustomerFactory, make_account
from tests.html import table_cells

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")


def bulk_accounts(count: int, **fields: object) -> None:
    customer = CustomerFactory.create()
    start = LoanAccount.objects.count()
    LoanAccount.objects.bulk_create(
        LoanAccount(
            number=f"LB{start + i:010d}",
            customer=customer,
            product="working_capital",
            channel="Online banking",
            approved_limit=Decimal("500000"),
            **fields,
        )
        for i in range(count)
    )


def listed(response) -> list[str]:
    return [row.record.number for row in response.context["table"].page.object_list]


def test_the_list_pins_its_query_count_for_20_and_2000_accounts(
    client: Client, lead, django_assert_num_queries
) -> None:
    client.force_login(lead)
    bulk_accounts(20)
    client.get(reverse("accounts:list"))
    # session, user, menu permissions (2), roles, departments, count, the page's keys, its rows
    with django_assert_num_queries(9):
        assert len(listed(client.get(reverse("accounts:list")))) == 20
    bulk_accounts(1980)
    with django_assert_num_queries(9):
        response = client.get(reverse("accounts:list") + "?state=approved&sort=customer&page=3")
        assert len(listed(response)) == 25


def test_each_row_of_the_list_lines_up_with_the_header(client: Client, lead) -> None:
    """The rows are written by the table's template: every cell sits under its column's header."""
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, approved_limit=Decimal("1234567"))
    CoreCommand.objects.create(account=account, kind="activate", method="POST", path="/v1/cardtransitions",
                               actor_name="x", actor_channel="web")  # fmt: skip
    client.force_login(lead)
    headers, rows = table_cells(client.get(reverse("accounts:list")).content.decode())
    assert headers == [
        "Account", "Customer", "Tier", "Product", "Channel", "State", "Approved limit", "Released", "In state for",
    ]  # fmt: skip
    row = dict(zip(headers, rows[0], strict=True))
    assert row["Account"] == account.number
    assert row["Customer"] == account.customer.name
    assert row["Tier"] == account.customer.get_risk_tier_display()
    assert row["Product"] == account.get_product_display()
    assert row["State"].startswith(f"{account.get_state_display()}: {account.get_empty_cause_display()}")
    assert "core banking: activate" in row["State"]
    assert row["Approved limit"] == "¥1,234,567.00"
    assert row["In state for"] == "0 minutes"
    assert f'href="{account.get_absolute_url()}"' in client.get(reverse("accounts:list")).content.decode()


def test_a_deep_page_keeps_the_order_and_a_large_count_is_an_estimate(client: Client, lead, monkeypatch) -> None:
    client.force_login(lead)
    bulk_accounts(60)
    everything = [row.number for row in LoanAccount.objects.order_by("-state_changed_at", "-id")]
    response = client.get(reverse("accounts:list") + "?page=3&sort=-state_changed_at")
    assert listed(response) == everything[50:60]
    assert "60 accounts match." in response.content.decode()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE accounts_loanaccount")  # the statistics autovacuum keeps
    monkeypatch.setattr("portal.tables.EXACT_BELOW", 10)  # what a million rows look like to the page
    response = client.get(reverse("accounts:list"))
    page = response.content.decode()
    if connection.vendor == "postgresql":  # the planner's estimate: about, and near the truth
        assert response.context["table"].data.estimated and "About " in page
        assert 30 <= response.context["table"].paginator.count <= 120
    else:  # other databases count exactly
        assert "60 accounts match." in page and not response.context["table"].data.estimated


def test_it_filters_by_state_cause_and_tier(client: Client, lead) -> None:
    held = make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high")
    stalled = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    make_account(State.ACTIVE)
    client.force_login(lead)
    assert set(listed(client.get(reverse("accounts:list") + "?state=empty"))) == {held.number, stalled.number}
    assert listed(client.get(reverse("accounts:list") + "?empty_cause=customer_incomplete")) == [stalled.number]
    assert listed(client.get(reverse("accounts:list") + "?tier=high")) == [held.number]


def test_it_searches_by_number_name_and_credit_code(client: Client, lead) -> None:
    account = make_account(State.ACTIVE, customer=CustomerFactory(name="Ningbo Harbour Cranes Co., Ltd."))
    make_account(State.ACTIVE)
    client.force_login(lead)
    for term in (account.number, account.number.lower(), "harbour cranes", account.customer.credit_code):
        assert listed(client.get(reverse("accounts:list"), {"q": term})) == [account.number], term


def test_it_filters_by_time_in_state(client: Client, lead) -> None:
    old = make_account(State.VERIFYING, state_changed_at=timezone.now() - timedelta(days=8))
    make_account(State.VERIFYING)
    client.force_login(lead)
    assert listed(client.get(reverse("accounts:list") + "?in_state_for=7d")) == [old.number]


def test_it_leaves_drill_accounts_out_unless_asked(client: Client, lead) -> None:
    real = make_account(State.ACTIVE)
    drill = make_account(State.ACTIVE, is_drill=True)
    client.force_login(lead)
    assert listed(client.get(reverse("accounts:list"))) == [real.number]
    assert listed(client.get(reverse("accounts:list") + "?drill=only")) == [drill.number]
    assert set(listed(client.get(reverse("accounts:list") + "?drill=all"))) == {real.number, drill.number}


def test_a_bad_filter_value_is_explained_not_a_500(client: Client, lead) -> None:
    client.force_login(lead)
    response = client.get(reverse("accounts:list") + "?state=melted")
    assert response.status_code == 200
    assert "Select a valid choice. melted is not one of the available choices." in response.content.decode()


def test_it_exports_the_current_filter_as_csv(client: Client, lead) -> None:
    held = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    make_account(State.ACTIVE)
    client.force_login(lead)
    response = client.get(reverse("accounts:list") + "?state=empty&export=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="accounts-')
    body = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["Account number"], r["State"], r["Cause"], r["Drill"]) for r in rows] == [
        (held.number, "Empty card", "Risk hold", "no")
    ]


def test_the_list_is_sortable(client: Client, lead) -> None:
    small = make_account(State.ACTIVE, approved_limit=Decimal("100000"))
    big = make_account(State.ACTIVE, approved_limit=Decimal("9000000"))
    client.force_login(lead)
    assert listed(client.get(reverse("accounts:list") + "?sort=-approved_limit")) == [big.number, small.number]


def test_the_account_page_masks_contact_data_and_shows_the_line(client: Client, service) -> None:
    customer = CustomerFactory(contact_mobile="13812345678", email="zhang.min@huaxin.example", risk_tier="high")
    account = make_account(
        State.ACTIVE,
        tier="high",
        customer=customer,
        approved_limit=Decimal("10000000"),
        steps=["sms_code", "password", "credit_review"],
    )
    client.force_login(service)
    page = client.get(account.get_absolute_url()).content.decode()
    assert "138****5678" in page and "13812345678" not in page
    assert "z***@huaxin.example" in page
    assert "¥10,000,000.00" in page and "¥3,000,000.00" in page
    assert "Credit officer review approved" in page


def test_the_account_page_pins_its_query_count(client: Client, credit, django_assert_num_queries) -> None:
    account = make_account(State.ACTIVE, tier="high", steps=["sms_code", "password", "credit_review"])
    client.force_login(credit)
    client.get(account.get_absolute_url())
    # The account's cases are one query (the officer's departments, which decide which cases
    # they see, are read anyway: they decide the actions too).
    with django_assert_num_queries(15):
        assert client.get(account.get_absolute_url()).status_code == 200
    for _ in range(5):  # a longer history, more commands to core banking: the same queries
        AuditEntry.objects.create(account=account, transition="hold", from_state="active", to_state="empty",
                                  actor_name="x", channel="web")  # fmt: skip
        CoreCommand.objects.create(account=account, kind="suspend", method="POST", path="/v1/cardtransitions",
                                   actor_name="x", actor_channel="web", status="done", completed_at=timezone.now(),
                                   decided_by=credit)  # fmt: skip
    with django_assert_num_queries(15):
        response = client.get(account.get_absolute_url())
    assert len(response.context["timeline"]) == 5 and len(response.context["commands"]) == 5


def past_cases(account: LoanAccount, count: int, department: str = "service") -> None:
    """Closed cases of the account's past, a day apart (the latest a week ago)."""
    now = timezone.now()
    Case.objects.bulk_create(
        Case(
            account=account,
            cause=EmptyCause.CUSTOMER_INCOMPLETE,
            department_id=department,
            status=Status.CLOSED,
            opened_at=now - timedelta(days=7 + day),
            resolved_at=now - timedelta(days=6 + day),
            closed_at=now - timedelta(days=6 + day),
            assign_due_at=now - timedelta(days=7 + day),
            resolve_due_at=now - timedelta(days=5 + day),
        )
        for day in range(count)
    )


def test_the_account_page_lists_its_cases_open_first(client: Client, lead, service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    past_cases(account, 2)
    open_case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    Case.objects.filter(pk=open_case.pk).update(assignee=service)
    client.force_login(lead)
    response = client.get(account.get_absolute_url())
    cases = response.context["cases"]
    assert cases[0].pk == open_case.pk and len(cases) == 3
    assert [case.is_open for case in cases] == [True, False, False]
    assert cases[1].opened_at > cases[2].opened_at  # then the newest
    page = response.content.decode()
    assert f'href="{open_case.get_absolute_url()}">#{open_case.pk}</a>' in page
    _headers, rows = table_cells(page[page.index('<table data-testid="account-cases"') :])
    assert rows[0][1:5] == ["Customer steps incomplete", "Customer service", "New", "Service Tester"]
    assert rows[1][3:5] == ["Closed", "nobody yet"] and rows[1][6] != "—" and rows[0][6] == "—"


def test_the_account_page_lists_only_the_cases_the_user_may_see(client: Client, service, auditor) -> None:
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    credit_case = case_open_for_account(account=account, cause=EmptyCause.RISK_HOLD, actor=JOB)
    past_cases(account, 1, department="service")
    client.force_login(service)  # a service agent: their department's cases and their own, not credit's
    assert [case.department for case in client.get(account.get_absolute_url()).context["cases"]] == ["Customer service"]
    client.force_login(auditor)
    assert credit_case.pk in [case.pk for case in client.get(account.get_absolute_url()).context["cases"]]
    quiet = make_account(State.ACTIVE)
    assert "No case on this account that you can see." in client.get(quiet.get_absolute_url()).content.decode()


def test_the_account_pages_cases_cost_one_query_for_1_and_10_cases(
    client: Client, service, django_assert_num_queries
) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    Case.objects.update(assignee=service)
    client.force_login(service)
    client.get(account.get_absolute_url())
    # The credit officer's 15, and whether the agent may reveal this customer's data (a case of theirs?)
    with django_assert_num_queries(16) as one:
        assert len(client.get(account.get_absolute_url()).context["cases"]) == 1
    assert sum('FROM "casework_case"' in query["sql"] for query in one.captured_queries) == 2
    past_cases(account, 9)
    Case.objects.update(assignee=service)  # each row names its assignee: no query per row either
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(client.get(account.get_absolute_url()).context["cases"]) == 10


def test_an_unknown_account_is_a_404(client: Client, lead) -> None:
    client.force_login(lead)
    assert client.get("/accounts/LA0000000999/").status_code == 404


def test_it_exports_the_current_filter_as_xlsx(client: Client, lead) -> None:
    import io as io_module

    import openpyxl

    held = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    make_account(State.ACTIVE)
    make_account(State.EMPTY, EmptyCause.RISK_HOLD, is_drill=True)
    client.force_login(lead)
    response = client.get(reverse("accounts:list") + "?state=empty&export=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io_module.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Account number" and [row[0] for row in rows[1:]] == [held.number]


FORMULAS = ['=HYPERLINK("http://attacker.example/","Click")', "+1+1", "-2+3", "@SUM(A1)", "\tTab"]


@pytest.mark.parametrize("name", FORMULAS)
def test_exports_never_hand_a_spreadsheet_a_formula(client: Client, lead, name: str) -> None:
    import io as io_module

    import openpyxl

    account = make_account(State.ACTIVE, customer=CustomerFactory(name=name), approved_limit=Decimal("100.00"))
    client.force_login(lead)
    csv_body = b"".join(client.get(reverse("accounts:list") + "?export=csv").streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    (row,) = list(csv.DictReader(io_module.StringIO(csv_body)))
    sheet = openpyxl.load_workbook(io_module.BytesIO(client.get(reverse("accounts:list") + "?export=xlsx").content))
    (xlsx_row,) = list(sheet.active.iter_rows(min_row=2, values_only=True))
    # Plain text behind an apostrophe, in both files; the page and the database keep the name as typed.
    assert row["Customer"] == xlsx_row[1] == "'" + name
    assert row["Account number"] == account.number and row["Approved limit"] == "100.00"
    assert name in client.get(account.get_absolute_url()).content.decode().replace("&quot;", '"')


def test_an_export_opens_in_excel_in_chinese_with_local_times(client: Client, lead) -> None:
    from datetime import UTC, datetime

    from django.utils import translation

    translation.activate("zh-hans")
    customer = CustomerFactory(name="成都锦江进出口贸易有限公司")
    since = datetime(2026, 11, 28, 13, 33, tzinfo=UTC)
    make_account(State.EMPTY, EmptyCause.RISK_HOLD, customer=customer, empty_since=since)
    client.force_login(lead)
    raw = b"".join(
        client.get(reverse("accounts:list") + "?export=csv", headers={"Accept-Language": "zh-CN"}).streaming_content  # type: ignore[attr-defined]
    )
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8's byte-order mark: Excel on Chinese Windows reads it as UTF-8
    (row,) = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert row["客户"] == "成都锦江进出口贸易有限公司"
    assert (row["状态"], row["原因"]) == ("空卡", "业务规则限制（风险冻结）")
    assert row["空卡起始时间"] == "2026-11-28 21:33"  # Asia/Shanghai, as staff read the clock


def test_the_account_list_finds_a_chinese_name_by_part_of_it_and_a_credit_code(client: Client, lead) -> None:
    jinjiang = make_account(State.ACTIVE, customer=CustomerFactory(name="成都锦江进出口贸易有限公司"))
    make_account(State.ACTIVE, customer=CustomerFactory(name="上海华鑫精密机械有限公司"))
    client.force_login(lead)
    assert listed(client.get(reverse("accounts:list") + "?q=锦江")) == [jinjiang.number]
    code = jinjiang.customer.credit_code.lower()  # typed in lower case: codes are stored in capitals
    assert listed(client.get(reverse("accounts:list") + f"?q={code}")) == [jinjiang.number]
