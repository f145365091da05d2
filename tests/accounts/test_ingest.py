"""Ingest from core banking: the CSV import (all or nothing) and the signed card-event webhook."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.ingest import COLUMNS, accounts_import
from accounts.models import AuditEntry, CoreEvent, Customer, LoanAccount, State
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


# --- the webhook --------------------------------------------------------------------------------

SECRET = "test-webhook-secret"


@pytest.fixture(autouse=True)
def _webhook_secret(settings) -> None:
    settings.CORE_WEBHOOK_SECRET = SECRET


def post_event(client: Client, payload: object, *, secret: str = SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        reverse("core_events"), data=body, content_type="application/json", headers={"X-Core-Signature": signature}
    )


def test_the_webhook_activates_an_account_once(client: Client) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    event = {"event_id": "evt-1", "type": "activation.succeeded", "account": account.number}
    first = post_event(client, event)
    assert (first.status_code, first.json()["status"]) == (200, "applied")
    replay = post_event(client, event)
    assert (replay.status_code, replay.json()["status"], replay.json()["outcome"]) == (200, "duplicate", "applied")
    account.refresh_from_db()
    assert account.state == State.ACTIVE
    entry = AuditEntry.objects.get(account=account)
    assert (entry.channel, entry.actor_name, entry.actor) == ("webhook", "core-banking", None)
    assert CoreEvent.objects.get().payload == event


def test_the_webhook_records_a_failed_activation_with_its_code(client: Client) -> None:
    account = make_account(State.ISSUED)
    event = {"event_id": "evt-2", "type": "activation.failed", "account": account.number, "error_code": "CFG-17"}
    assert post_event(client, event).status_code == 200
    account.refresh_from_db()
    assert (account.state, account.empty_cause, account.last_error_code) == ("empty", "system_config", "CFG-17")


def test_the_webhook_records_a_verification_step(client: Client) -> None:
    account = make_account(State.VERIFYING, tier="medium")
    post_event(
        client,
        {"event_id": "evt-3", "type": "verification.step_completed", "account": account.number, "step": "password"},
    )
    account.refresh_from_db()
    assert account.password_set_at is not None and account.sms_verified_at is None


def test_the_webhook_refuses_a_bad_or_missing_signature(client: Client) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    event = {"event_id": "evt-4", "type": "activation.succeeded", "account": account.number}
    assert post_event(client, event, secret="wrong").status_code == 403
    unsigned = client.post(reverse("core_events"), data=json.dumps(event), content_type="application/json")
    assert unsigned.status_code == 403
    assert LoanAccount.objects.get(pk=account.pk).state == State.ISSUED
    assert not CoreEvent.objects.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"type": "activation.succeeded", "account": "LA1"}', "event_id"),
        (b'{"event_id": "e", "type": "card.exploded", "account": "LA1"}', "type must be one of"),
        (b'{"event_id": "e", "type": "verification.step_completed", "account": "LA1", "step": "dna"}', "step must be"),
    ],
)
def test_the_webhook_answers_400_to_a_malformed_body(client: Client, raw: bytes, message: str) -> None:
    response = post_event(client, None, raw=raw)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not CoreEvent.objects.exists()


def test_the_webhook_answers_404_for_an_unknown_account(client: Client) -> None:
    response = post_event(client, {"event_id": "evt-5", "type": "activation.succeeded", "account": "LA0404040404"})
    assert response.status_code == 404
    assert response.json() == {"error": "No account LA0404040404."}


def test_the_webhook_stores_a_refused_event_and_says_why(client: Client) -> None:
    account = make_account(State.ISSUED, tier="medium", steps=["sms_code"])
    event = {"event_id": "evt-6", "type": "activation.succeeded", "account": account.number}
    response = post_event(client, event)
    assert response.status_code == 409
    assert "still missing Password set" in response.json()["error"]
    assert CoreEvent.objects.get().outcome.startswith("refused:")
    assert post_event(client, event).json()["status"] == "duplicate"
    assert LoanAccount.objects.get(pk=account.pk).state == State.ISSUED


def test_the_webhook_is_post_only(client: Client) -> None:
    assert client.get(reverse("core_events")).status_code == 405
