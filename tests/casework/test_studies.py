"""Case studies from resolved cases and incidents; incidents that resolve; the playbook page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import EmptyCause, State
from accounts.services import Actor, account_transition
from casework.incidents import incident_create, incident_resolve
from casework.models import Case, CaseStudy, Incident
from casework.services import (
    CaseActionError,
    case_link_incident,
    case_open_for_account,
)
from casework.studies import case_study_create
from tests.factories import make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")
STUDY = {
    "title": "Mobile app channel missing after the release",
    "outcome": "problem",
    "summary": "Forty accounts went empty in an hour.",
    "root_cause": "The release dropped the channel from the product table.",
    "what_worked": "Anomaly detection raised the incident within the hour.",
    "what_to_change": "Check the channel table in the release checklist.",
}


def resolved_case(cause: str = EmptyCause.SYSTEM_CONFIG) -> Case:
    """A case fixed the usual way: its account activated (an empty-card case resolves only then)."""
    account = make_account(State.EMPTY, cause, steps=("sms_code", "password"))
    case = case_open_for_account(account=account, cause=cause, actor=JOB)
    account_transition(account_id=account.pk, transition_name="activate", actor=JOB, core_confirmation="command 1")
    case.refresh_from_db()
    assert (case.status, case.resolution) == ("resolved", "fixed")
    return case


def test_a_lead_writes_a_case_study_from_a_resolved_case(client: Client, lead) -> None:
    case = resolved_case()
    client.force_login(lead)
    assert "Write a case study" in client.get(case.get_absolute_url()).content.decode()
    url = reverse("studies:new") + f"?case={case.pk}"
    assert f"Case #{case.pk}" in client.get(url).content.decode()
    response = client.post(url, STUDY, follow=True)
    study = CaseStudy.objects.get()
    assert response.redirect_chain[-1][0] == study.get_absolute_url()
    assert (study.cause, study.case, study.author, study.outcome) == (EmptyCause.SYSTEM_CONFIG, case, lead, "problem")
    assert "Check the channel table" in response.content.decode()
    # Listed, found by its words, and linked from the playbook of its cause.
    listing = client.get(reverse("studies:list"), {"q": "channel release"}).content.decode()
    assert study.title in listing
    assert study.title not in client.get(reverse("studies:list"), {"q": "sanctions"}).content.decode()
    assert study.title not in client.get(reverse("studies:list"), {"outcome": "success"}).content.decode()
    playbook = client.get(reverse("casework:playbook", args=[EmptyCause.SYSTEM_CONFIG])).content.decode()
    assert study.title in playbook and "Case studies (1)" in playbook
    other = client.get(reverse("casework:playbook", args=[EmptyCause.RISK_HOLD])).content.decode()
    assert study.title not in other
    assert (
        reverse("casework:playbook", args=[EmptyCause.SYSTEM_CONFIG])
        in client.get(case.get_absolute_url()).content.decode()
    )


def test_a_case_study_waits_for_the_outcome(client: Client, lead) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    client.force_login(lead)
    response = client.post(reverse("studies:new") + f"?case={case.pk}", STUDY, follow=True)
    assert "once the case is resolved" in response.content.decode()
    assert response.redirect_chain[-1][0] == case.get_absolute_url()
    response = client.get(reverse("studies:new"), follow=True)
    assert "written from a resolved case or incident" in response.content.decode()
    assert not CaseStudy.objects.exists()


def test_the_study_form_says_what_is_missing(client: Client, lead) -> None:
    case = resolved_case()
    client.force_login(lead)
    response = client.post(reverse("studies:new") + f"?case={case.pk}", {**STUDY, "root_cause": "", "outcome": ""})
    errors = response.context["form"].errors
    assert errors["root_cause"] == ["Write the root cause, even if it is a best guess."]
    assert errors["outcome"] == ["Say whether this was a success to repeat or a problem to fix."]
    assert not CaseStudy.objects.exists()


def test_only_leads_write_and_edit_case_studies(client: Client, lead, tech) -> None:
    case = resolved_case()
    study = case_study_create(user=lead, values=STUDY, case=case)
    client.force_login(tech)
    assert client.get(study.get_absolute_url()).status_code == 200
    assert client.post(reverse("studies:new") + f"?case={case.pk}", STUDY).status_code == 403
    assert client.post(reverse("studies:edit", args=[study.pk]), {**STUDY, "title": "Changed"}).status_code == 403
    client.force_login(lead)
    client.post(reverse("studies:edit", args=[study.pk]), {**STUDY, "outcome": "success", "title": "Changed"})
    study.refresh_from_db()
    assert (study.title, study.outcome) == ("Changed", "success")
    assert study.updated_at > study.created_at


def test_a_case_study_from_a_resolved_incident(client: Client, lead, tech) -> None:
    incident = incident_create(title="Mobile app channel broken", description="", user=tech)
    account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, steps=("sms_code", "password"))
    case = case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)
    case_link_incident(case_id=case.pk, incident_id=incident.pk, user=tech)
    with pytest.raises(CaseActionError, match="1 case of this incident is still open"):
        incident_resolve(incident_id=incident.pk, user=tech)
    with pytest.raises(CaseActionError, match="once the incident is resolved"):
        case_study_create(user=lead, values=STUDY, incident=incident)
    # The fault fixed, the account activates and its case resolves; the incident (not marked fixed) waits for tech.
    account_transition(account_id=account.pk, transition_name="activate", actor=JOB, core_confirmation="command 1")
    assert Case.objects.get(pk=case.pk).resolution == "fixed"
    client.force_login(tech)
    response = client.post(reverse("casework:incident_resolve", args=[incident.pk]), follow=True)
    assert "Incident resolved" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Incident.IncidentStatus.RESOLVED and incident.resolved_at
    client.force_login(lead)
    assert "Write a case study" in client.get(incident.get_absolute_url()).content.decode()
    client.post(reverse("studies:new") + f"?incident={incident.pk}", STUDY)
    study = CaseStudy.objects.get()
    assert (study.incident, study.source_label) == (incident, f"Incident #{incident.pk} · Mobile app channel broken")


def test_a_fixed_incident_resolves_itself_when_its_last_account_activates(tech) -> None:
    incident = incident_create(title="Core banking profile rejected", description="", user=tech)
    account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, steps=("sms_code", "password"))
    case = case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)
    case_link_incident(case_id=case.pk, incident_id=incident.pk, user=tech)
    Incident.objects.filter(pk=incident.pk).update(status=Incident.IncidentStatus.FIXED)
    account_transition(account_id=account.pk, transition_name="activate", actor=JOB, core_confirmation="command 1")
    incident.refresh_from_db()
    assert incident.status == Incident.IncidentStatus.RESOLVED


def test_the_study_list_query_count_does_not_grow(client: Client, lead, django_assert_num_queries) -> None:
    case = resolved_case()
    for index in range(3):
        case_study_create(user=lead, values={**STUDY, "title": f"Study {index}"}, case=case)
    client.force_login(lead)
    client.get(reverse("studies:list"))
    # session, user, menu permissions (2), count, the page of studies, header roles and departments
    with django_assert_num_queries(8):
        client.get(reverse("studies:list"))
    for index in range(30):
        case_study_create(user=lead, values={**STUDY, "title": f"More {index}"}, case=case)
    with django_assert_num_queries(8):
        response = client.get(reverse("studies:list"))
    assert len(response.context["page"]) == 20


def test_an_unknown_cause_has_no_playbook_page(client: Client, lead) -> None:
    client.force_login(lead)
    assert client.get(reverse("casework:playbook", args=["weather"])).status_code == 404
