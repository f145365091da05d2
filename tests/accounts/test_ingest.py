"""The CSV import of customers and accounts: all or nothing, with line-numbered errors."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from io import StringIO

import django_rq
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.imports import import_run
from accounts.ingest import COLUMNS, accounts_import
from accounts.models import Customer, ImportRun, LoanAccount, State
from portal.masking import mask_code
from tests.factories import credit_code, make_account
from tests.jobs import work

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


def upload(client: Client, content: bytes, capture, **data: object) -> str:
    """Upload a file, let the worker run it, and return the run's page."""
    with capture(execute=True):
        response = client.post(
            reverse("accounts:import"), {"file": SimpleUploadedFile("accounts.csv", content, "text/csv"), **data}
        )
    assert response.status_code == 302, response.content.decode()[:500]
    work(capture)
    return client.get(response["Location"]).content.decode()


def test_the_upload_page_is_for_credit_officers(
    client: Client, credit, service, django_capture_on_commit_callbacks
) -> None:
    client.force_login(service)
    assert client.get(reverse("accounts:import")).status_code == 403
    client.force_login(credit)
    page = upload(client, csv_text([row(1), row(2, product="yacht")]).encode(), django_capture_on_commit_callbacks)
    assert "Nothing imported: the file has errors" in page
    assert "1 of 2 rows have errors; nothing was imported." in page
    assert "product: Select a valid choice." in page
    assert not LoanAccount.objects.exists()
    run = ImportRun.objects.get()
    report = client.get(reverse("accounts:import_errors", args=[run.pk]))
    assert report["Content-Disposition"] == f'attachment; filename="import-{run.pk}-errors.csv"'
    assert list(csv.reader(io.StringIO(report.content.decode()))) == [
        ["line", "problem"],
        ["3", "product: Select a valid choice. yacht is not one of the available choices."],
    ]

    page = upload(client, csv_text([row(1)]).encode(), django_capture_on_commit_callbacks)
    assert "1 rows: 1 customers created, 0 updated; 1 accounts created, 0 updated." in page
    assert LoanAccount.objects.count() == 1


def test_the_run_page_follows_the_job_and_reloads_when_it_is_done(
    client: Client, credit, django_capture_on_commit_callbacks
) -> None:
    client.force_login(credit)
    response = client.post(
        reverse("accounts:import"), {"file": SimpleUploadedFile("a.csv", csv_text([row(1)]).encode())}
    )  # the job is queued after the commit, which this test has not run yet
    progress = client.get(response["Location"], headers={"HX-Request": "true"})
    assert "Waiting for a worker to take the file." in progress.content.decode()
    assert 'hx-trigger="every 2s"' in progress.content.decode() and "HX-Refresh" not in progress
    import_run(ImportRun.objects.get().pk)
    done = client.get(response["Location"], headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true" and 'hx-trigger="every 2s"' not in done.content.decode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        ("account_number\n".encode("utf-16"), "The file is neither UTF-8 nor GB18030 text (byte 1 is 0xff)."),
        (b"account_number,name\nLA1,Caf\xe9, Ltd\n", "The file is neither UTF-8 nor GB18030 text (byte 28 is 0xe9)."),
        (b"account_number,credit_code\nLA1,x\n", "The header row lacks the column(s) customer_name"),
        (csv_text([]).encode(), "The file has a header row but no data rows."),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_at_upload_saying_why(
    client: Client, credit, content: bytes, message: str
) -> None:
    client.force_login(credit)
    response = client.post(reverse("accounts:import"), {"file": SimpleUploadedFile("a.csv", content)})
    assert response.status_code == 400  # the upload page again, with what is wrong: no run is queued
    page = response.content.decode()
    assert message in page
    assert "of 0 rows" not in page and "line 0" not in page
    assert not ImportRun.objects.exists()
    assert not LoanAccount.objects.exists()


def test_control_characters_and_overlong_text_are_row_errors(django_capture_on_commit_callbacks) -> None:
    report = accounts_import(
        io.StringIO(csv_text([row(1, customer_name="Evil\x00 Co"), row(2, channel="x" * 61), row(3)]))
    )
    messages = {error.line: error.message for error in report.errors}
    assert messages[2].startswith("customer_name: This text contains a control character (U+0000 NUL) at position 5")
    assert messages[3] == "channel: This text is 61 characters long; at most 60 are accepted: shorten it."
    assert not LoanAccount.objects.exists()


def test_an_upload_while_redis_was_down_is_run_by_the_sweeper(
    client: Client, credit, settings, django_capture_on_commit_callbacks
) -> None:
    working = (settings.REDIS_URL, settings.RQ_QUEUES)
    gone = "unix:///nonexistent/redis.sock"
    settings.REDIS_URL, settings.RQ_QUEUES = gone, {"default": {**settings.RQ_QUEUES["default"], "URL": gone}}
    client.force_login(credit)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:import"), {"file": SimpleUploadedFile("a.csv", csv_text([row(1)]).encode())})
    assert ImportRun.objects.get().status == "queued"
    settings.REDIS_URL, settings.RQ_QUEUES = working
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        with django_capture_on_commit_callbacks(execute=True):
            django_rq.get_queue("default").enqueue("accounts.jobs.requeue_notifications")
        work(django_capture_on_commit_callbacks)
    assert ImportRun.objects.get().status == "done" and LoanAccount.objects.count() == 1
    assert import_run(ImportRun.objects.get().pk) == "nothing to do"  # a second job for it changes nothing


def test_the_upload_page_pins_its_query_count_for_its_recent_runs(
    client: Client, credit, django_assert_num_queries
) -> None:
    def runs(count: int) -> None:
        ImportRun.objects.bulk_create(
            ImportRun(file_name=f"f{n}.csv", content=b"x", created_by=credit, status="done") for n in range(count)
        )

    client.force_login(credit)
    runs(2)
    client.get(reverse("accounts:import"))
    # session, user, the permission check (2), the header's roles and departments, the runs
    with django_assert_num_queries(7) as few:
        assert "f1.csv" in client.get(reverse("accounts:import")).content.decode()
    runs(30)
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(reverse("accounts:import")).content.decode()
    assert page.count('href="/accounts/import/') == 10  # the ten latest


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_file_saved_by_excel_on_chinese_windows_imports_with_its_chinese_names(encoding: str) -> None:
    rows = [row(1, customer_name="成都锦江进出口贸易有限公司", contact_name="李伟", channel="成都锦江支行")]
    report = accounts_import(io.BytesIO(csv_text(rows).encode(encoding)))
    assert report.ok, report.errors
    customer = Customer.objects.get()
    assert (customer.name, customer.contact_name) == ("成都锦江进出口贸易有限公司", "李伟")
    assert LoanAccount.objects.get().channel == "成都锦江支行"


def test_a_runs_report_is_in_the_uploaders_language_whatever_the_workers(client: Client, credit) -> None:
    from django.utils import translation

    client.force_login(credit)
    content = csv_text([row(1, customer_name="Evil\x00 Co")]).encode()
    response = client.post(
        reverse("accounts:import"), {"file": SimpleUploadedFile("a.csv", content)}, headers={"Accept-Language": "zh-CN"}
    )
    run = ImportRun.objects.get()
    assert run.language == "zh-hans"
    with translation.override("en"):  # the worker's own language
        import_run(run.pk)
    page = client.get(response["Location"], headers={"Accept-Language": "zh-CN"}).content.decode()
    assert "控制字符" in page and "control character" not in page


def test_the_report_names_a_customer_by_a_masked_credit_code() -> None:
    """Reports are read by whoever opens the run: a credit code in them is masked like on every page."""
    clash = {**row(2), "credit_code": row(1)["credit_code"], "customer_name": "Another name"}
    report = accounts_import(io.StringIO(csv_text([row(1), clash])))
    message = next(error.message for error in report.errors if error.line == 3)
    assert "has different details on line 2" in message
    assert row(1)["credit_code"] not in message and mask_code(row(1)["credit_code"]) in message
