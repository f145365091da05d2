"""A case resolves as fixed only once its account has left the empty-card state, or as "won't fix" with a
reason; the monitor reopens a case resolved as fixed while its account is still (or again) empty."""

from __future__ import annotations

import django_rq
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from rq import SimpleWorker

from accounts.models import Channel, EmptyCause, LoanAccount, State
from accounts.monitor import monitor_scan
from accounts.services import Actor, account_transition
from casework.models import Case, CaseEvent, Resolution, Status
from casework.outcomes import cases_reopen_unfixed
from casework.services import CaseActionError, case_open_for_account, case_transition
from portal.models import JobHeartbeat
from tests.factories import make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("activation-monitor", Channel.JOB)
STILL_EMPTY = (
    "The account is still in the empty-card state (Customer steps incomplete): resolve the case once the account "
    "is active, or choose “won't fix” and say why."
)
WONT_FIX = {"resolution": "wont_fix", "reason": "customer_declined", "note": "Does not want the line any more."}


def open_case(cause: str = EmptyCause.CUSTOMER_INCOMPLETE) -> Case:
    return case_open_for_account(account=make_account(State.EMPTY, cause), cause=cause, actor=JOB)


def resolved_by_hand_earlier(case: Case) -> None:
    """A case resolved as fixed while its account was empty, as the desk allowed before (no service does now)."""
    Case.objects.filter(pk=case.pk).update(
        status=Status.RESOLVED, resolution=Resolution.FIXED, resolved_at=timezone.now()
    )


def run_worker() -> None:
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


# --- resolving by hand ---------------------------------------------------------------------------


def test_it_refuses_to_resolve_a_case_whose_account_is_still_empty(service) -> None:
    case = open_case()
    with pytest.raises(CaseActionError) as refused:
        case_transition(case_id=case.pk, name="resolve", user=service, expected_version=case.version)
    assert refused.value.message == STILL_EMPTY
    case.refresh_from_db()
    assert (case.status, case.version, case.resolution) == (Status.NEW, 1, "")
    assert list(case.events.values_list("kind", flat=True)) == ["opened"]


def test_the_page_says_why_the_case_cannot_be_resolved_yet(client: Client, service) -> None:
    case = open_case()
    client.force_login(service)
    page = client.get(case.get_absolute_url())
    assert page.context["resolve_form"]["resolution"].value() == "wont_fix"  # fixed would be refused
    assert "To end it now, choose “won't fix” and say why." in page.content.decode()

    response = client.post(
        reverse("casework:move", args=[case.pk, "resolve"]),
        {"version": case.version, "resolution": "fixed"},
        follow=True,
    )
    assert escape(STILL_EMPTY) in response.content.decode()
    case.refresh_from_db()
    assert (case.status, case.version) == (Status.NEW, 1)


def test_it_resolves_as_wont_fix_with_a_reason_shown_on_the_timeline(client: Client, service) -> None:
    case = open_case()
    client.force_login(service)
    response = client.post(
        reverse("casework:move", args=[case.pk, "resolve"]), {"version": case.version, **WONT_FIX}, follow=True
    )
    assert f"Case #{case.pk} is now resolved." in response.content.decode()
    case.refresh_from_db()
    assert (case.status, case.resolution, case.resolution_reason, case.resolution_note) == (
        Status.RESOLVED,
        "wont_fix",
        "customer_declined",
        "Does not want the line any more.",
    )
    event = case.events.order_by("-id").first()
    assert event is not None
    assert (event.kind, event.from_status, event.to_status, event.actor) == ("status", "new", "resolved", service)
    assert event.text == "Resolved as won't fix (The customer declined the line): Does not want the line any more."
    page = client.get(case.get_absolute_url()).content.decode()
    assert escape(event.text) in page
    assert 'data-testid="case-outcome"' in page and "Won&#x27;t fix" in page


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"reason": "", "note": "Gone abroad."}, "reason", "Choose why the case won't be fixed."),
        ({"reason": "other", "note": ""}, "note", "Say why the case won't be fixed: whoever reads the case later"),
        ({"reason": "no_such_reason", "note": "x"}, "reason", "Select a valid choice."),
    ],
)
def test_wont_fix_without_a_reason_is_the_page_again_with_the_error(
    client: Client, service, data: dict[str, str], field: str, error: str
) -> None:
    case = open_case()
    client.force_login(service)
    response = client.post(
        reverse("casework:move", args=[case.pk, "resolve"]),
        {"version": case.version, "resolution": "wont_fix", **data},
    )
    assert response.status_code == 400
    assert escape(error) in response.content.decode()
    case.refresh_from_db()
    assert (case.status, case.version, case.resolution) == (Status.NEW, 1, "")
    assert not case.events.exclude(kind="opened").exists()


def test_the_service_refuses_wont_fix_without_a_reason_and_a_note(service) -> None:
    case = open_case()
    with pytest.raises(CaseActionError, match="Choose why the case won't be fixed"):
        case_transition(case_id=case.pk, name="resolve", user=service, expected_version=None, resolution="wont_fix")
    with pytest.raises(CaseActionError, match="Say why the case won't be fixed"):
        case_transition(
            case_id=case.pk, name="resolve", user=service, expected_version=None, resolution="wont_fix", reason="other"
        )
    with pytest.raises(CaseActionError, match="Choose how the case ends"):
        case_transition(case_id=case.pk, name="resolve", user=service, expected_version=None, resolution="maybe")
    assert Case.objects.get(pk=case.pk).status == Status.NEW


def test_it_resolves_as_fixed_once_the_account_has_left_the_empty_state(client: Client, service) -> None:
    case = open_case()
    LoanAccount.objects.filter(pk=case.account_id).update(state=State.ACTIVE, empty_cause="", empty_since=None)
    client.force_login(service)
    assert client.get(case.get_absolute_url()).context["resolve_form"]["resolution"].value() == "fixed"
    client.post(reverse("casework:move", args=[case.pk, "resolve"]), {"version": case.version, "note": "Done."})
    case.refresh_from_db()
    assert (case.status, case.resolution, case.resolution_reason, case.resolution_note) == ("resolved", "fixed", "", "")
    assert case.events.order_by("-id").values_list("text", flat=True).first() == "Resolved as fixed: Done."


def test_a_case_that_is_not_about_the_empty_state_resolves_as_fixed(tech) -> None:
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    case = case_open_for_account(account=account, cause="core_sync", actor=JOB, note="Core refused the hold.")
    case_transition(case_id=case.pk, name="resolve", user=tech, expected_version=None)
    assert Case.objects.get(pk=case.pk).resolution == "fixed"
    assert case.events.order_by("-id").values_list("text", flat=True).first() == "Resolved as fixed."


def test_the_automatic_resolution_is_fixed() -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    account_transition(account_id=account.pk, transition_name="fail_activation", actor=JOB, error_code="CB-1")
    account_transition(account_id=account.pk, transition_name="activate", actor=JOB, core_confirmation="command 1")
    case = Case.objects.get(account=account)
    assert (case.status, case.resolution, case.resolution_reason) == (Status.RESOLVED, "fixed", "")
    assert case.events.order_by("-id").values_list("text", flat=True).first() == "Resolved: the account is active."


# --- the monitor reopens what was not fixed ------------------------------------------------------


def test_the_monitor_reopens_a_case_resolved_as_fixed_while_its_account_is_empty_once() -> None:
    case = open_case()
    resolved_by_hand_earlier(case)

    assert monitor_scan().reopened == 1
    assert monitor_scan().reopened == 0  # the second run finds it open already

    case.refresh_from_db()
    assert (case.status, case.resolution, case.resolved_at, case.version) == (Status.IN_PROGRESS, "", None, 2)
    reopened = case.events.get(kind="status")
    assert (reopened.from_status, reopened.to_status, reopened.actor_name) == ("resolved", "in_progress", JOB.name)
    assert reopened.text.startswith(
        "Reopened: the account is still in the empty-card state (Customer steps incomplete), so the case is not fixed."
    )


def test_the_monitor_reopens_a_fixed_case_when_its_account_goes_empty_again() -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    account_transition(account_id=account.pk, transition_name="fail_activation", actor=JOB, error_code="CB-1")
    account_transition(account_id=account.pk, transition_name="activate", actor=JOB, core_confirmation="command 1")
    account_transition(account_id=account.pk, transition_name="hold", actor=JOB, reason="Fraud alert.")
    failed = Case.objects.get(account=account, cause=EmptyCause.SYSTEM_CONFIG)
    assert failed.resolution == "fixed"

    assert cases_reopen_unfixed(actor=JOB) == 1
    assert cases_reopen_unfixed(actor=JOB) == 0
    failed.refresh_from_db()
    assert failed.status == Status.IN_PROGRESS
    assert "(Risk hold)" in failed.events.order_by("-id")[0].text
    assert Case.objects.get(account=account, cause=EmptyCause.RISK_HOLD).status == Status.NEW


def test_a_wont_fix_case_stays_resolved(service) -> None:
    case = open_case()
    case_transition(case_id=case.pk, name="resolve", user=service, expected_version=None, **WONT_FIX)
    assert monitor_scan().reopened == 0
    case.refresh_from_db()
    assert (case.status, case.resolution) == (Status.RESOLVED, "wont_fix")


def test_the_monitor_leaves_a_case_whose_account_has_another_open_one_for_the_cause() -> None:
    case = open_case()
    resolved_by_hand_earlier(case)
    newer = case_open_for_account(account=case.account, cause=case.cause, actor=JOB)  # the database allows one open
    assert newer.pk != case.pk
    assert cases_reopen_unfixed(actor=JOB) == 0
    assert Case.objects.get(pk=case.pk).status == Status.RESOLVED


def test_the_monitor_leaves_fixed_cases_of_usable_accounts_alone() -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    account_transition(account_id=account.pk, transition_name="fail_activation", actor=JOB, error_code="CB-1")
    account_transition(account_id=account.pk, transition_name="activate", actor=JOB, core_confirmation="command 1")
    assert cases_reopen_unfixed(actor=JOB) == 0
    assert Case.objects.get(account=account).status == Status.RESOLVED


def test_reopening_many_cases_costs_the_same_queries_as_a_few() -> None:
    few = [open_case() for _case in range(2)]
    for case in few:
        resolved_by_hand_earlier(case)
    with CaptureQueriesContext(connection) as queries:
        assert cases_reopen_unfixed(actor=JOB) == 2
    many = [open_case() for _case in range(12)]
    for case in many:
        resolved_by_hand_earlier(case)
    with CaptureQueriesContext(connection) as more:
        assert cases_reopen_unfixed(actor=JOB) == 12
    assert len(more) == len(queries)
    assert CaseEvent.objects.filter(kind="status", to_status="in_progress").count() == 14


def test_the_monitor_job_reopens_once_on_a_real_worker(django_capture_on_commit_callbacks) -> None:
    case = open_case()
    resolved_by_hand_earlier(case)
    reopened = []
    for _run in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            django_rq.get_queue("default").enqueue("accounts.jobs.scan_accounts")
        run_worker()
        beat = JobHeartbeat.objects.get(name="scan_accounts")
        assert beat.last_error == ""
        reopened.append(beat.last_counts["reopened"])
    assert reopened == [1, 0]
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS
    assert case.events.filter(kind="status", from_status="resolved", to_status="in_progress").count() == 1
