"""The CSV import of customers and accounts: all or nothing, with line-numbered errors."""

from __future__ import annotations

import csv
import io
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.ingest import COLUMNS, accounts_import
from accounts.models import Customer, LoanAccount, State
from tests.factories import credit_code, make_account

pytestmark = pytest.mark.django_db


def row(n: int, **overrides: str) -> dict[str, str]:
    values = {
        "account_number": f"LA{9_000_000_000 + n}",
        "credit_code": credit_code(500 + n),
        "customer_name": f"Suzhou Import Test {n} Co., Ltd.",
        "contact_name": "Li Wei",
        "contact_mobile": f"139{n:08d}",
        "email": f"cfo{n}@import.example",
        "risk_tier": "medium",
        "credit_score": "705",
        "product": "working_capital",
        "channel": "Suzhou branch",
        "approved_limit": "1500000.00",
    }
    values.update(overrides)
    return values


def csv_text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_a_good_file_creates_customers_and_accounts_and_reports_it() -> None:
    second_account_of_first_customer = {**row(1), "account_number": "LA9000000003"}
    report = accounts_import(io.StringIO(csv_text([row(1), row(2), second_account_of_first_customer])))
    assert report.ok, report.errors
    assert (report.customers_created, report.accounts_created) == (2, 3)
    assert LoanAccount.objects.filter(state=State.APPROVED).count() == 3
    assert "2 customers created" in report.summary() and "3 accounts created" in report.summary()


def test_a_second_import_updates_what_changed() -> None:
    accounts_import(io.StringIO(csv_text([row(1), row(2)])))
    report = accounts_import(io.StringIO(csv_text([row(1, channel="Online banking"), row(2)])))
    assert report.ok
    assert (report.customers_created, report.accounts_created, report.accounts_updated) == (0, 0, 1)
    assert LoanAccount.objects.get(number=row(1)["account_number"]).channel == "Online banking"


def test_one_bad_row_among_good_ones_imports_nothing_and_names_the_row() -> None:
    rows = [row(1), row(2, contact_mobile="12345"), row(3), row(4, credit_code="91310000000000000X")]
    report = accounts_import(io.StringIO(csv_text(rows)))
    assert not report.ok
    lines = {error.line: error.message for error in report.errors}
    assert set(lines) == {3, 5}
    assert "contact_mobile" in lines[3] and "mainland China mobile" in lines[3]
    assert "credit_code" in lines[5]
    assert report.summary() == "2 of 4 rows have errors; nothing was imported."
    assert not Customer.objects.exists() and not LoanAccount.objects.exists()


def test_it_refuses_a_limit_below_what_is_released() -> None:
    account = make_account(State.ACTIVE)
    data = row(
        1,
        account_number=account.number,
        credit_code=account.customer.credit_code,
        customer_name=account.customer.name,
        contact_name=account.customer.contact_name,
        contact_mobile=account.customer.contact_mobile,
        email=account.customer.email,
        risk_tier=account.customer.risk_tier,
        credit_score=str(account.customer.credit_score),
        approved_limit="10.00",
    )
    report = accounts_import(io.StringIO(csv_text([data])))
    assert [error.line for error in report.errors] == [2]
    assert "below the" in report.errors[0].message
    assert LoanAccount.objects.get(pk=account.pk).approved_limit == account.approved_limit


def test_it_explains_a_missing_column() -> None:
    report = accounts_import(io.StringIO("account_number,credit_code\nLA1,x\n"))
    assert report.errors[0].line == 1
    assert "lacks the column(s) customer_name" in report.errors[0].message


def test_a_dry_run_reports_and_saves_nothing() -> None:
    report = accounts_import(io.StringIO(csv_text([row(1)])), dry_run=True)
    assert report.ok and report.accounts_created == 1
    assert "dry run" in report.summary()
    assert not LoanAccount.objects.exists()


def test_the_command_imports_and_fails_on_bad_rows(tmp_path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(csv_text([row(1)]))
    out = StringIO()
    call_command("import_accounts", str(good), stdout=out)
    assert "1 accounts created" in out.getvalue()

    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text([row(2, risk_tier="extreme")]))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_accounts", str(bad), stdout=StringIO(), stderr=StringIO())
    assert LoanAccount.objects.count() == 1


def test_the_upload_page_is_for_credit_officers(client: Client, credit, service) -> None:
    client.force_login(service)
    assert client.get(reverse("accounts:import")).status_code == 403
    client.force_login(credit)
    upload = SimpleUploadedFile("accounts.csv", csv_text([row(1), row(2, product="yacht")]).encode(), "text/csv")
    response = client.post(reverse("accounts:import"), {"file": upload})
    page = response.content.decode()
    assert "Nothing was imported" in page
    assert "product: Select a valid choice." in page
    assert not LoanAccount.objects.exists()

    upload = SimpleUploadedFile("accounts.csv", csv_text([row(1)]).encode(), "text/csv")
    response = client.post(reverse("accounts:import"), {"file": upload}, follow=True)
    assert "1 accounts created" in response.content.decode()
    assert LoanAccount.objects.count() == 1
