"""Drills: start one from a scenario, work its cases, end it, read the report, purge its data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Customer, EmptyCause, LoanAccount, Notification, State
from accounts.notify import activation_resend
from accounts.services import account_transition
from casework.drills import drill_end, drill_purge, drill_report, drill_start
from casework.models import Case, Drill, Incident, SlaPolicy, Status
from casework.services import CaseActionError, case_transition, cases_assign
from portal.actors import Actor
from portal.pages.dashboard import dashboard_figures
from tests.factories import make_account

pytestmark = pytest.mark.django_db
T0 = datetime.fromisoformat("2026-11-02T09:00:00+08:00")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_whole_drill_is_timed_per_team_and_person(lead, service) -> None:
    # Every priority: assign within 5 minutes, resolve within an hour, so the SLA outcomes are known.
    SlaPolicy.objects.update(time_to_assign=timedelta(minutes=5), time_to_resolve=timedelta(hours=1))
    real = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    with time_machine.travel(T0, tick=False) as clock:
        drill = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=3, user=lead)
        first, second, third = Case.objects.filter(drill=drill).order_by("pk")
        clock.move_to(at(4))
        cases_assign(case_ids=[first.pk, second.pk], assignee=service, by=lead)
        clock.move_to(at(10))
        cases_assign(case_ids=[third.pk], assignee=service, by=lead)
        # The synthetic accounts stay empty: the agent ends each case as "won't fix", saying why.
        declined = {"resolution": "wont_fix", "reason": "customer_declined", "note": "Declined the line on the phone."}
        clock.move_to(at(30))
        case_transition(case_id=first.pk, name="start", user=service, expected_version=None)
        case_transition(case_id=first.pk, name="resolve", user=service, expected_version=None, **declined)
        clock.move_to(at(120))
        case_transition(case_id=second.pk, name="start", user=service, expected_version=None)
        case_transition(case_id=second.pk, name="resolve", user=service, expected_version=None, **declined)
        clock.move_to(at(180))
        drill = drill_end(drill_id=drill.pk, user=lead)

    report = drill.report
    assert (drill.status, drill.ended_at) == (Drill.DrillStatus.ENDED, at(180))
    assert report["first_assignment_s"] == 240
    assert report["duration_s"] == 3 * 3600
    assert report["open"] == 1 and report["all_resolved_s"] is None
    team = report["teams"]["service"]
    assert (team["cases"], team["assigned"], team["resolved"]) == (3, 3, 2)
    assert (team["median_to_assign_s"], team["max_to_assign_s"]) == (240, 600)
    assert team["median_to_resolve_s"] == (30 + 120) / 2 * 60
    # Assigned at 4, 4 and 10 minutes against 5; resolved at 30 min, 2 h and never against 1 h.
    assert (team["assign_hits"], team["assign_misses"]) == (2, 1)
    assert (team["resolve_hits"], team["resolve_misses"]) == (1, 2)
    person = report["people"][service.get_full_name() or service.username]
    assert (person["cases"], person["resolved"], person["resolve_hits"], person["resolve_misses"]) == (3, 2, 1, 2)
    assert set(report["teams"]) == {"service"}

    purged = drill_purge(drill_id=drill.pk, user=lead)
    assert purged == {"accounts": 3, "customers": 3, "cases": 3, "incidents": 0}
    assert not LoanAccount.objects.filter(is_drill=True).exists()
    assert not Case.objects.filter(is_drill=True).exists()
    assert not Customer.objects.filter(is_drill=True).exists()
    drill.refresh_from_db()
    assert drill.status == Drill.DrillStatus.PURGED
    assert drill.report["teams"]["service"]["resolve_misses"] == 2, "the report outlives the data"
    assert LoanAccount.objects.filter(pk=real.pk).exists(), "real data is never purged"


def test_an_sms_wave_leaves_customers_stuck_at_the_sms_step(lead) -> None:
    drill = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=4, user=lead)
    accounts = LoanAccount.objects.filter(number__startswith=f"DR{drill.pk:06d}")
    assert accounts.count() == 4
    for account in accounts.select_related("customer"):
        assert (account.state, account.empty_cause, account.is_drill) == (
            State.EMPTY,
            EmptyCause.CUSTOMER_INCOMPLETE,
            True,
        )
        assert account.sms_verified_at is None and account.customer.is_drill
        assert account.audit_entries.count() == 2  # issued, then stalled
    cases = Case.objects.filter(drill=drill)
    assert {(case.department_id, case.status, case.is_drill) for case in cases} == {("service", Status.NEW, True)}
    assert not Notification.objects.exists()


def test_a_configuration_fault_raises_a_drill_incident_on_its_channel(lead) -> None:
    drill = drill_start(scenario=Drill.Scenario.CONFIG_FAULT, size=5, user=lead, channel="Mobile app")
    incident = Incident.objects.get(drill=drill)
    assert incident.is_drill and incident.title == "Drill: activation fails on Mobile app"
    cases = Case.objects.filter(drill=drill)
    assert cases.count() == 5
    assert {(case.department_id, case.cause, case.priority, case.incident_id) for case in cases} == {
        ("tech", EmptyCause.SYSTEM_CONFIG, 1, incident.pk)
    }
    assert set(LoanAccount.objects.filter(cases__drill=drill).values_list("channel", "last_error_code")) == {
        ("Mobile app", "CFG-CHANNEL-MISSING")
    }
    drill_end(drill_id=drill.pk, user=lead)
    assert drill_purge(drill_id=drill.pk, user=lead)["incidents"] == 1
    assert not Incident.objects.filter(is_drill=True).exists()


def test_a_risk_sweep_goes_to_credit(lead) -> None:
    drill = drill_start(scenario=Drill.Scenario.RISK_SWEEP, size=2, user=lead)
    cases = Case.objects.filter(drill=drill)
    assert {(case.department_id, case.cause, case.account.empty_cause) for case in cases} == {
        ("credit", EmptyCause.RISK_HOLD, EmptyCause.RISK_HOLD)
    }


def test_a_drill_account_stuck_again_opens_its_next_case_in_the_same_drill(lead, credit) -> None:
    drill = drill_start(scenario=Drill.Scenario.CONFIG_FAULT, size=1, user=lead, channel="Mobile app")
    account = LoanAccount.objects.get(cases__drill=drill)
    account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(credit), reason="Bureau hit.")
    hold_case = Case.objects.get(account=account, cause=EmptyCause.RISK_HOLD)
    assert (hold_case.is_drill, hold_case.drill_id) == (True, drill.pk)
    drill_end(drill_id=drill.pk, user=lead)
    assert drill_purge(drill_id=drill.pk, user=lead)["cases"] == 2
    assert not LoanAccount.objects.filter(pk=account.pk).exists()


def test_drill_data_never_counts_in_real_figures(lead) -> None:
    make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    before = dashboard_figures()
    drill_start(scenario=Drill.Scenario.CONFIG_FAULT, size=6, user=lead, channel="Online banking")
    after = dashboard_figures()
    assert after["empty_total"].value == before["empty_total"].value == 1
    assert after["open_incidents"] == before["open_incidents"] == 0
    assert [row.open for row in after["departments"]] == [row.open for row in before["departments"]]


def test_a_drill_customer_is_never_messaged(lead) -> None:
    drill = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=1, user=lead)
    account = LoanAccount.objects.get(cases__drill=drill)
    assert activation_resend(account_id=account.pk) == 2  # logged for the team: SMS and email
    assert set(account.notifications.values_list("status", flat=True)) == {Notification.Status.SUPPRESSED}


def test_only_leads_run_drills_and_each_step_happens_once(lead, service) -> None:
    with pytest.raises(PermissionDenied):
        drill_start(scenario=Drill.Scenario.SMS_WAVE, size=1, user=service)
    drill = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=1, user=lead)
    with pytest.raises(PermissionDenied):
        drill_end(drill_id=drill.pk, user=service)
    with pytest.raises(CaseActionError, match="End the drill first"):
        drill_purge(drill_id=drill.pk, user=lead)
    drill_end(drill_id=drill.pk, user=lead)
    with pytest.raises(CaseActionError, match="already ended"):
        drill_end(drill_id=drill.pk, user=lead)
    drill_purge(drill_id=drill.pk, user=lead)
    with pytest.raises(CaseActionError, match="already been purged"):
        drill_purge(drill_id=drill.pk, user=lead)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"scenario": "config_fault", "size": "10", "channel": " "}, "channel", "Name the channel"),
        ({"scenario": "sms_wave", "size": "0"}, "size", "greater than or equal to 1"),
        ({"scenario": "sms_wave", "size": "500"}, "size", "less than or equal to 200"),
        ({"scenario": "sms_wave", "size": "many"}, "size", "whole number"),
        ({"scenario": "flood", "size": "5"}, "scenario", "Select a valid choice"),
        ({"size": "5"}, "scenario", "Choose what the drill practises"),
    ],
)
def test_the_drill_form_says_what_is_wrong(client: Client, lead, data, field, message) -> None:
    client.force_login(lead)
    response = client.post(reverse("casework:drill_new"), data)
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert not Drill.objects.exists()


def test_a_lead_starts_ends_and_purges_a_drill_from_its_pages(client: Client, lead) -> None:
    client.force_login(lead)
    assert "Start a drill" in client.get(reverse("casework:drills")).content.decode()
    response = client.post(reverse("casework:drill_new"), {"scenario": "sms_wave", "size": "3"}, follow=True)
    drill = Drill.objects.get()
    assert response.redirect_chain[-1][0] == drill.get_absolute_url()
    page = response.content.decode()
    assert "Live report" in page and "End the drill" in page
    board = client.get(reverse("casework:board"), {"drill": "only"})
    assert sum(cell.count for lane in board.context["lanes"] for cell in lane.cells) == 3
    assert board.content.decode().count("badge-drill") >= 3
    default_board = client.get(reverse("casework:board"))
    assert sum(cell.count for lane in default_board.context["lanes"] for cell in lane.cells) == 0
    response = client.post(reverse("casework:drill_end", args=[drill.pk]), follow=True)
    assert "Purge the drill data" in response.content.decode()
    response = client.post(reverse("casework:drill_purge", args=[drill.pk]), follow=True)
    assert "Drill data purged: 3 accounts, 3 cases" in response.content.decode()


def test_other_staff_read_drills_but_cannot_run_them(client: Client, lead, service) -> None:
    drill = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=1, user=lead)
    client.force_login(service)
    page = client.get(drill.get_absolute_url()).content.decode()
    assert "Live report" in page and "End the drill" not in page
    assert client.get(reverse("casework:drill_new")).status_code == 403
    assert client.post(reverse("casework:drill_end", args=[drill.pk])).status_code == 403
    assert client.post(reverse("casework:drill_purge", args=[drill.pk])).status_code == 403
    drill.refresh_from_db()
    assert drill.is_running


def test_the_drill_page_query_count_does_not_grow_with_its_size(
    client: Client, lead, django_assert_num_queries
) -> None:
    small = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=2, user=lead)
    big = drill_start(scenario=Drill.Scenario.RISK_SWEEP, size=40, user=lead)
    client.force_login(lead)
    client.get(small.get_absolute_url())
    # session, user, menu permissions (2), the drill, its cases for the report, header roles and departments
    with django_assert_num_queries(8) as few:
        client.get(small.get_absolute_url())
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(big.get_absolute_url())
    assert response.context["report"]["overall"]["cases"] == 40
    # session, user, menu permissions (2), count, the page of drills with who started them, header
    with django_assert_num_queries(8):
        client.get(reverse("casework:drills"))
    drill_start(scenario=Drill.Scenario.SMS_WAVE, size=1, user=lead)
    with django_assert_num_queries(8):
        assert len(client.get(reverse("casework:drills")).context["page"]) == 3


def test_the_report_counts_a_case_still_within_its_time_as_neither_hit_nor_miss(lead) -> None:
    drill = drill_start(scenario=Drill.Scenario.SMS_WAVE, size=1, user=lead)
    report = drill_report(drill, timezone.now())
    assert report["overall"]["assign_hits"] + report["overall"]["assign_misses"] == 0
    assert report["overall"]["resolve_hits"] + report["overall"]["resolve_misses"] == 0
    assert report["people"][""]["cases"] == 1  # nobody assigned yet
