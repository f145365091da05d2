"""The demo of the seed article's main remedy, end to end with a real worker on a real Redis:
a configuration fault in core banking refuses a channel's new cards, tech cases open, the anomaly
detector opens one incident, and once the fault is fixed one batch from the incident
reactivates them all through core banking."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import django_rq
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.gateway import SIMULATED
from accounts.models import AuditEntry, LoanAccount, State
from accounts.services import account_transition
from casework.batches import batch_start
from casework.models import Case, Incident, Status
from portal.actors import Actor
from tests.factories import make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db


def test_a_configuration_fault_and_its_fix(tech, django_capture_on_commit_callbacks) -> None:
    SIMULATED.config_fault_channels.add("Mobile app")
    for day in range(1, 8):  # a normal week: two empty accounts in this hour each day
        for _ in range(2):
            account = make_account(State.EMPTY, "system_config", channel="Mobile app")
            AuditEntry.objects.create(
                account=account, transition="fail_activation", from_state="issued", to_state="empty",
                actor_name="history", channel="job", created_at=timezone.now() - timedelta(days=day),
            )  # fmt: skip
            LoanAccount.objects.filter(pk=account.pk).update(state=State.CLOSED, empty_cause="", empty_since=None)

    new_cards = [make_account(State.APPROVED, channel="Mobile app", steps=["sms_code"]) for _ in range(12)]
    other = make_account(State.APPROVED, channel="Online banking", steps=["sms_code"])
    for account in [*new_cards, other]:
        with django_capture_on_commit_callbacks(execute=True):
            account_transition(account_id=account.pk, transition_name="issue", actor=Actor.system("core", "job"))
    work(django_capture_on_commit_callbacks)

    emptied = LoanAccount.objects.filter(pk__in=[a.pk for a in new_cards])
    assert set(emptied.values_list("state", "empty_cause", "last_error_code")) == {
        ("empty", "system_config", "CFG-CHANNEL-MISSING")
    }
    assert LoanAccount.objects.get(pk=other.pk).state == State.ACTIVE
    cases = Case.objects.filter(account__in=new_cards)
    assert cases.count() == 12 and set(cases.values_list("department_id", flat=True)) == {"tech"}

    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue("casework.jobs.detect_anomalies")
    work(django_capture_on_commit_callbacks)
    incident = Incident.objects.get()
    assert incident.details["observed"] == 12 and incident.details["channel"] == "Mobile app"
    assert cases.filter(incident=incident).count() == 12

    SIMULATED.config_fault_channels.discard("Mobile app")  # tech fixes the product's configuration
    with django_capture_on_commit_callbacks(execute=True):
        batch = batch_start(
            title="after the fix",
            account_ids=incident.cases.values_list("account_id", flat=True),
            user=tech,
            incident_id=incident.pk,
        )
    work(django_capture_on_commit_callbacks)
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded, batch.failed) == ("done", 12, 0)
    assert set(emptied.values_list("state", flat=True)) == {State.ACTIVE}
    assert set(cases.values_list("status", flat=True)) == {Status.RESOLVED}


def test_run_periodic_runs_a_job_now() -> None:
    out = StringIO()
    call_command("run_periodic", "scan_accounts", stdout=out)
    assert out.getvalue().startswith("scan_accounts: examined 0")
