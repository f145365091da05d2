"""SLA escalation and anomaly detection, run by a real RQ worker on a real Redis."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from accounts.models import AuditEntry, EmptyCause, LoanAccount, State
from casework.anomaly import MIN_COUNT, P_THRESHOLD, detect_anomalies, findings, poisson_tail
from casework.models import Case, CaseEvent, Incident
from casework.services import case_open_for_account
from portal.actors import Actor
from portal.models import JobHeartbeat
from tests.factories import make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")


def run(job: str, capture) -> None:
    queue = django_rq.get_queue("default")
    with capture(execute=True):
        queue.enqueue(job)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_overdue_cases_are_escalated_once(django_capture_on_commit_callbacks) -> None:
    late = case_open_for_account(account=make_account(State.EMPTY, EmptyCause.RISK_HOLD), cause="risk_hold", actor=JOB)
    on_time = case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG), cause="system_config", actor=JOB
    )
    Case.objects.filter(pk=late.pk).update(resolve_due_at=timezone.now() - timedelta(hours=1))
    run("casework.jobs.escalate_overdue_cases", django_capture_on_commit_callbacks)
    run("casework.jobs.escalate_overdue_cases", django_capture_on_commit_callbacks)
    escalations = CaseEvent.objects.filter(actor_name="sla-escalation")
    assert list(escalations.values_list("case_id", flat=True)) == [late.pk]
    assert "Escalated to the Credit lead." in escalations.get().text
    assert Case.objects.get(pk=on_time.pk).escalated_at is None
    # The second run: nothing newly overdue; the breach notices go to no one (no assignee, no lead here).
    assert JobHeartbeat.objects.get(name="escalate_overdue_cases").last_counts == {
        "escalated": 0,
        "warned": 0,
        "breach_notices": 0,
    }


def test_the_poisson_tail_matches_known_values() -> None:
    assert poisson_tail(0, 2) == 1.0
    assert poisson_tail(5, 2) == pytest.approx(0.0526530, rel=1e-5)
    assert poisson_tail(10, 2) == pytest.approx(4.6498e-5, rel=1e-3)
    assert 0 < poisson_tail(60, 0.5) < 1e-70


def went_empty(count: int, *, channel: str, hours_ago: float = 0.2, days_ago: int = 0) -> list[int]:
    when = timezone.now() - timedelta(days=days_ago, hours=hours_ago)
    ids = []
    for _ in range(count):
        account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, channel=channel)
        AuditEntry.objects.create(
            account=account, transition="fail_activation", from_state="issued", to_state="empty",
            actor_name="test", channel="job", created_at=when,
        )  # fmt: skip
        ids.append(account.pk)
    return ids


def with_usual_background(channel: str) -> None:
    for day in range(1, 8):
        went_empty(2, channel=channel, days_ago=day)


def test_an_ordinary_hour_raises_nothing() -> None:
    with_usual_background("Mobile app")
    went_empty(3, channel="Mobile app")
    (finding,) = findings()
    assert (finding.observed, finding.baseline, finding.rate) == (3, [2] * 7, 2.0)
    assert finding.p_value > P_THRESHOLD and not finding.anomalous
    assert detect_anomalies()["anomalies"] == 0
    assert not Incident.objects.exists()


def test_a_spike_opens_one_incident_with_the_numbers_and_links_the_cases(django_capture_on_commit_callbacks) -> None:
    with_usual_background("Mobile app")
    with_usual_background("Online banking")
    went_empty(3, channel="Online banking")  # normal traffic elsewhere
    spike = went_empty(12, channel="Mobile app")
    for account in LoanAccount.objects.filter(pk__in=spike):
        case_open_for_account(account=account, cause="system_config", actor=JOB)

    run("casework.jobs.detect_anomalies", django_capture_on_commit_callbacks)
    incident = Incident.objects.get()
    assert incident.department_id == "tech"
    details = incident.details
    assert (details["channel"], details["observed"], details["baseline"]) == ("Mobile app", 12, [2] * 7)
    assert details["p_value"] < P_THRESHOLD and details["score"] > 4
    assert set(Case.objects.filter(incident=incident).values_list("account_id", flat=True)) == set(spike)

    run("casework.jobs.detect_anomalies", django_capture_on_commit_callbacks)  # still spiking: same incident
    assert Incident.objects.count() == 1
    assert JobHeartbeat.objects.get(name="detect_anomalies").last_counts["incidents_opened"] == 0


def test_drill_accounts_do_not_count() -> None:
    went_empty(MIN_COUNT * 3, channel="Drill channel")
    LoanAccount.objects.filter(channel="Drill channel").update(is_drill=True)
    assert findings() == []
