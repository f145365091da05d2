"""Reconciliation: core banking's card statuses read back, what core decided applied, real mismatches cased."""

from __future__ import annotations

from decimal import Decimal

import django_rq
import pytest
from django.test import Client
from django.urls import reverse
from rq import SimpleWorker

from accounts.gateway import SIMULATED, CoreCard, SimulatedGateway
from accounts.models import AuditEntry, LoanAccount, ReconciliationRun, State
from accounts.reconcile import Ours, classify, reconcile
from accounts.services import Actor, account_transition
from casework.models import Case
from portal.models import JobHeartbeat
from tests.factories import core_holds, make_account

pytestmark = pytest.mark.django_db
CHANGES, FULL = ReconciliationRun.Mode.CHANGES, ReconciliationRun.Mode.FULL
R = Decimal("300000.00")


def card(state: str, usable: Decimal = R) -> CoreCard:
    return CoreCard("T", "LA0000000001", state, Decimal("1000000.00"), usable)


def ours(state: str, cause: str = "", *, steps: bool = True, released: Decimal = R) -> Ours:
    return Ours(1, state, cause, "", released, steps)


@pytest.mark.parametrize(
    ("desk", "core", "verdict"),
    [
        (ours("active"), card("ACTIVE"), ("ok", "")),
        (ours("active"), card("SUSPENDED"), ("apply", "hold")),
        (ours("active"), card("TERMINATED"), ("apply", "close")),
        (ours("active"), card("UNACTIVATED"), ("case", "")),
        (ours("active"), card("ACTIVE", usable=R / 2), ("apply", "limit")),
        (ours("active"), card("ACTIVE", usable=R * 2), ("case", "")),
        (ours("verifying"), card("ACTIVE"), ("apply", "activate")),
        (ours("verifying", steps=False), card("ACTIVE"), ("case", "")),
        (ours("verifying"), card("UNACTIVATED"), ("ok", "")),
        (ours("issued"), card("SUSPENDED"), ("apply", "hold")),
        (ours("empty", "system_config"), card("ACTIVE"), ("apply", "activate")),
        (ours("empty", "customer_incomplete"), card("ACTIVE"), ("case", "")),
        (ours("empty", "customer_incomplete"), card("UNACTIVATED"), ("ok", "")),
        (ours("empty", "risk_hold"), card("SUSPENDED"), ("ok", "")),
        (ours("empty", "risk_hold"), card("ACTIVE"), ("case", "")),
        (ours("empty", "risk_hold"), card("UNACTIVATED"), ("case", "")),
        (ours("approved"), card("UNACTIVATED"), ("apply", "issue")),
        (ours("approved"), card("ACTIVE"), ("case", "")),
        (ours("closed"), card("TERMINATED"), ("ok", "")),
        (ours("closed"), card("ACTIVE"), ("case", "")),
    ],
)
def test_what_reconciliation_makes_of_each_pair(desk: Ours, core: CoreCard, verdict: tuple[str, str]) -> None:
    found = classify(desk, core)
    assert (found.action, found.transition) == verdict
    assert bool(found.note) == (found.action == "case")


def test_a_run_applies_what_core_decided_and_cases_the_real_mismatches() -> None:
    in_step = make_account(State.ACTIVE)
    suspended_in_core = make_account(State.ACTIVE)
    terminated_in_core = make_account(State.VERIFYING)
    held_but_active_in_core = make_account(State.EMPTY, "risk_hold", activated=True)
    in_flight = make_account(State.ACTIVE)
    issued_by_core = make_account(State.APPROVED, card_state="UNACTIVATED", card_token="CORE-1")
    core = SimulatedGateway()
    core.set_state(str(suspended_in_core.card_token), "SUSPENDED")
    core.set_state(str(terminated_in_core.card_token), "TERMINATED")
    core.set_state(str(held_but_active_in_core.card_token), "ACTIVE")
    account_transition(account_id=in_flight.pk, transition_name="hold", actor=Actor.system("t", "job"), reason="x")
    core_holds(issued_by_core)
    LoanAccount.objects.filter(pk=issued_by_core.pk).update(card_state="")
    SIMULATED.cards["CARD-LA9999999999"] = {**SIMULATED.cards[str(in_step.card_token)], "token": "CARD-LA9999999999",
                                            "account_number": "LA9999999999", "seq": 999}  # fmt: skip

    run = reconcile(mode=CHANGES)

    assert run.counts() == {"cards_read": 7, "mismatches": 4, "fixed": 3, "cased": 1, "in_flight": 1, "unknown": 1}
    assert (run.error, run.cursor_to) == ("", "999")
    assert LoanAccount.objects.get(pk=suspended_in_core.pk).on_hold
    assert Case.objects.get(account=suspended_in_core).department_id == "credit"
    assert LoanAccount.objects.get(pk=terminated_in_core.pk).state == State.CLOSED
    assert LoanAccount.objects.get(pk=issued_by_core.pk).state == State.ISSUED
    applied = AuditEntry.objects.get(account=suspended_in_core, transition="hold")
    assert (applied.channel, applied.actor_name, applied.details["core"]) == (
        "core",
        "core banking (reconciliation)",
        f"reconciliation {run.pk}",
    )
    mismatch = Case.objects.get(account=held_but_active_in_core)
    assert (mismatch.cause, mismatch.department_id) == ("core_sync", "tech")
    assert "ACTIVE while the line is on risk hold" in mismatch.events.get().text
    assert LoanAccount.objects.get(pk=held_but_active_in_core.pk).card_state == "ACTIVE"  # what core reported
    assert not Case.objects.filter(account=in_step).exists()
    assert not Case.objects.filter(account=in_flight, cause="core_sync").exists()  # on its way, not out of step


def test_the_next_run_reads_only_what_changed_and_the_nightly_one_reads_everything() -> None:
    first, second = make_account(State.ACTIVE), make_account(State.ACTIVE)
    assert reconcile(mode=CHANGES).cards_read == 2
    assert reconcile(mode=CHANGES).cards_read == 0
    SimulatedGateway().set_state(str(second.card_token), "TERMINATED")
    again = reconcile(mode=CHANGES)
    assert (again.cards_read, again.fixed) == (1, 1)
    assert reconcile(mode=FULL, page_size=1).cards_read == 2  # paged, from the start
    assert LoanAccount.objects.get(pk=first.pk).state == State.ACTIVE


def test_a_run_that_cannot_reach_core_says_so_and_the_next_starts_where_it_stopped(client: Client, tech) -> None:
    make_account(State.ACTIVE)
    reconcile(mode=CHANGES)
    SIMULATED.down = True
    failed = reconcile(mode=CHANGES)
    assert failed.error.startswith("CORE_DOWN") and failed.cursor_to == ""
    SIMULATED.down = False
    assert reconcile(mode=CHANGES).cursor_from != "0"
    client.force_login(tech)
    page = client.get(reverse("jobs")).content.decode()
    assert "Changes since the last run" in page and "Reconciliation" in page


def test_it_runs_as_a_periodic_job_with_its_counts(django_capture_on_commit_callbacks) -> None:
    make_account(State.ACTIVE)
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("accounts.jobs.reconcile_core")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    beat = JobHeartbeat.objects.get(name="reconcile_core")
    assert beat.last_error == "" and beat.last_counts["cards_read"] == 1
