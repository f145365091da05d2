"""The demo data: one login per role, safe to load twice, refused in production."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from portal.selectors import staff_summary

pytestmark = pytest.mark.django_db

EXPECTED = {
    "service": (["Service agent"], ["service"]),
    "tech": (["Tech engineer"], ["tech"]),
    "credit": (["Credit officer"], ["credit"]),
    "credit2": (["Credit officer"], ["credit"]),
    "lead": (["Team lead"], ["credit", "service", "tech"]),
    "auditor": (["Auditor"], []),
    "admin": (["Admin"], []),
}


def test_it_creates_one_login_per_role_with_the_demo_password(settings) -> None:
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--accounts", "0", stdout=out)
    users = get_user_model().objects.in_bulk(field_name="username")
    assert set(users) == set(EXPECTED)
    for username, (role_labels, departments) in EXPECTED.items():
        summary = staff_summary(users[username])
        assert summary.role_labels == role_labels
        assert [department.code for department in summary.departments] == departments
        assert users[username].check_password("demo")
        assert username in out.getvalue()
    assert users["admin"].is_superuser and users["admin"].is_staff
    assert not users["auditor"].is_staff


def test_it_creates_accounts_in_every_state_and_tops_them_up(settings) -> None:
    from accounts.models import LoanAccount, State

    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--accounts", "120", stdout=out)
    assert "Loan accounts: 120 (120 created now)." in out.getvalue()
    assert set(LoanAccount.objects.values_list("state", flat=True)) == set(State.values)
    call_command("seed_demo", "--accounts", "120", stdout=out)
    call_command("seed_demo", "--accounts", "150", stdout=out)
    assert LoanAccount.objects.count() == 150


def test_it_can_run_twice(settings) -> None:
    settings.DEBUG = True
    call_command("seed_demo", "--accounts", "0", stdout=StringIO())
    lead = get_user_model().objects.get(username="lead")
    lead.set_password("changed-by-hand-1")
    lead.save()
    call_command("seed_demo", "--accounts", "0", stdout=StringIO())
    assert get_user_model().objects.count() == len(EXPECTED)
    lead.refresh_from_db()
    assert lead.check_password("demo")


def test_it_writes_the_seed_articles_two_cases_as_case_studies_once(settings) -> None:
    from casework.models import CaseStudy

    settings.DEBUG = True
    for _run in range(2):
        call_command("seed_demo", "--accounts", "0", stdout=StringIO())
    assert sorted(CaseStudy.objects.values_list("cause", "outcome")) == [
        ("customer_incomplete", "success"),
        ("system_config", "problem"),
    ]


def test_the_problem_studys_lesson_is_version_2_of_its_playbook_once(settings) -> None:
    from casework.demo import DEMO_PLAYBOOK_STEP
    from casework.models import Playbook, PlaybookRevision
    from portal.actors import person_name

    settings.DEBUG = True
    for _run in range(2):
        call_command("seed_demo", "--accounts", "0", stdout=StringIO())
    playbook = Playbook.objects.get(cause="system_config")
    revision = PlaybookRevision.objects.get()
    assert (playbook.version, revision.status, revision.study.outcome) == (2, "accepted", "problem")
    assert (revision.proposed_by_name, revision.decided_by_id) == (
        person_name(revision.proposed_by),
        get_user_model().objects.get(username="admin").pk,
    )
    assert revision.proposed_by.username == "lead"
    assert list(playbook.steps.values_list("text", flat=True))[1] == DEMO_PLAYBOOK_STEP
    assert playbook.versions.get(number=2).diff["added"] == [DEMO_PLAYBOOK_STEP]


def test_it_refuses_to_run_in_production_without_force(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refuses to run with DJANGO_DEBUG=0"):
        call_command("seed_demo", stdout=StringIO())
    assert not get_user_model().objects.exists()
    call_command("seed_demo", "--force", "--accounts", "0", stdout=StringIO())
    assert get_user_model().objects.count() == len(EXPECTED)


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_each_demo_user_signs_in_and_sees_their_role(client: Client, settings, username: str) -> None:
    settings.DEBUG = True
    call_command("seed_demo", "--accounts", "0", stdout=StringIO())
    response = client.post(reverse("login"), {"username": username, "password": "demo"}, follow=True)
    assert response.status_code == 200
    header = response.content.decode()
    for label in EXPECTED[username][0]:
        assert f'<span data-testid="role">{label}</span>' in header


def test_a_fresh_demo_has_cases_resolved_over_the_past_weeks_for_every_figure(settings) -> None:
    from casework.models import Case, CustomerFeedback
    from portal.pages.dashboard import dashboard_figures

    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--accounts", "200", stdout=out)
    resolved = Case.objects.filter(is_drill=False, resolved_at__isnull=False)
    assert resolved.count() == 60 and "60 closed ones from the past" in out.getvalue()
    figures = dashboard_figures()
    assert sum(department.resolved_30d for department in figures["departments"]) > 0  # SLA compliance has data
    assert figures["durations"].count > 0
    assert figures["feedback"].count > 0 and figures["feedback"].median_response_hours is not None  # answered ones
    call_command("seed_demo", "--accounts", "200", stdout=StringIO())
    assert resolved.count() == 60  # once
    assert CustomerFeedback.objects.count() == figures["feedback"].count
