"""Playbooks that learn: a change proposed from a case study, accepted by another lead, as a new version."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.models import Case, CaseStudy, Playbook, PlaybookRevision, PlaybookVersion
from casework.playbooks import (
    playbook_current_steps,
    playbook_diff,
    playbook_revision_accept,
    playbook_revision_propose,
    playbook_revision_reject,
)
from casework.services import CaseActionError, case_open_for_account, cases_open_bulk
from portal import roles
from tests.factories import make_account, make_staff

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")
CAUSE = EmptyCause.RISK_HOLD


@pytest.fixture
def lead2(db):
    return make_staff("lead2", roles.TEAM_LEAD, ["credit", "service", "tech"])


@pytest.fixture
def study(lead) -> CaseStudy:
    return CaseStudy.objects.create(
        title="Holds kept too long",
        cause=CAUSE,
        outcome=CaseStudy.Outcome.PROBLEM,
        source_label="Case #1",
        summary="Held lines waited a week.",
        root_cause="No one asked for the latest score.",
        what_worked="The call to the customer.",
        what_to_change="Ask for the latest score on day one.",
        author=lead,
        author_name="Lead",
    )


def new_steps() -> list[str]:
    """The risk-hold playbook with a new first step, its second step changed and its last removed."""
    old = playbook_current_steps(Playbook.objects.get(cause=CAUSE))
    return ["Book the next review date", old[0], "Ask credit for the latest score on day one", old[2]]


def open_case() -> Case:
    return case_open_for_account(account=make_account(State.EMPTY, CAUSE), cause=CAUSE, actor=JOB)


def test_it_diffs_steps_as_added_changed_and_removed() -> None:
    assert playbook_diff(["a", "b", "c", "d"], ["a", "B", "c", "e", "f"]) == {
        "added": ["f"],
        "changed": [["b", "B"], ["d", "e"]],
        "removed": [],
    }
    assert playbook_diff(["a", "b", "c"], ["c"]) == {"added": [], "changed": [], "removed": ["a", "b"]}


def test_it_starts_every_playbook_at_version_1_with_its_steps() -> None:
    playbook = Playbook.objects.get(cause=CAUSE)
    first = PlaybookVersion.objects.get(playbook=playbook)
    assert (playbook.version, first.number, first.steps, first.revision) == (
        1,
        1,
        playbook_current_steps(playbook),
        None,
    )


def test_an_accepted_change_is_the_next_version_and_only_new_cases_get_it(lead, lead2, study) -> None:
    before = open_case()
    old = playbook_current_steps(Playbook.objects.get(cause=CAUSE))
    assert (before.playbook_version, list(before.checklist.values_list("text", flat=True))) == (1, old)

    proposed = new_steps()
    revision = playbook_revision_propose(user=lead, study=study, steps=proposed, note="From the study.")
    assert (revision.status, revision.base_version) == ("proposed", 1)
    version = playbook_revision_accept(user=lead2, revision_id=revision.pk, note="Agreed.")

    playbook = Playbook.objects.get(cause=CAUSE)
    assert (playbook.version, version.number, version.steps) == (2, 2, proposed)
    assert playbook_current_steps(playbook) == proposed
    assert version.diff == {
        "added": ["Book the next review date"],
        "changed": [[old[1], "Ask credit for the latest score on day one"]],
        "removed": [old[3]],
    }
    revision.refresh_from_db()
    assert (revision.status, revision.resulting_version, revision.decided_by, revision.decision_note) == (
        "accepted",
        2,
        lead2,
        "Agreed.",
    )
    # The open case keeps its checklist; a case opened now, one by one or in bulk, gets the new steps.
    before.refresh_from_db()
    assert (before.playbook_version, list(before.checklist.values_list("text", flat=True))) == (1, old)
    after = open_case()
    assert (after.playbook_version, list(after.checklist.values_list("text", flat=True))) == (2, proposed)
    (bulk,) = cases_open_bulk(accounts=[make_account(State.EMPTY, CAUSE)], actor=JOB)
    assert (bulk.playbook_version, list(bulk.checklist.values_list("text", flat=True))) == (2, proposed)


def test_it_refuses_a_proposal_written_against_an_older_version(lead, lead2, study) -> None:
    first = playbook_revision_propose(user=lead, study=study, steps=new_steps(), note="One.")
    second = playbook_revision_propose(user=lead, study=study, steps=["Only one step"], note="Two.")
    playbook_revision_accept(user=lead2, revision_id=first.pk)
    message = r"The playbook changed since this proposal \(now version 2\): propose again from the current steps\."
    with pytest.raises(CaseActionError, match=message):
        playbook_revision_accept(user=lead2, revision_id=second.pk)
    second.refresh_from_db()
    assert second.status == "proposed"
    assert Playbook.objects.get(cause=CAUSE).version == 2


def test_the_proposer_does_not_accept_their_own_change(lead, lead2, study) -> None:
    revision = playbook_revision_propose(user=lead, study=study, steps=new_steps(), note="Mine.")
    with pytest.raises(CaseActionError, match="You proposed this change: another lead accepts it") as refused:
        playbook_revision_accept(user=lead, revision_id=revision.pk)
    assert "Lead2 Tester" in refused.value.message
    assert Playbook.objects.get(cause=CAUSE).version == 1


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["", "   "], "Write at least one step"),
        (["x" * 301], "Step 1 is 301 characters long; at most 300"),
        ([f"step {n}" for n in range(31)], "at most 30 steps"),
    ],
)
def test_it_refuses_steps_that_cannot_be_a_playbook(lead, study, steps: list[str], message: str) -> None:
    with pytest.raises(CaseActionError, match=message):
        playbook_revision_propose(user=lead, study=study, steps=steps, note="Why.")
    assert not PlaybookRevision.objects.exists()


def test_it_refuses_the_current_steps_unchanged(client: Client, lead, study) -> None:
    current = playbook_current_steps(Playbook.objects.get(cause=CAUSE))
    client.force_login(lead)
    url = reverse("studies:propose", args=[study.pk])
    response = client.post(url, {"steps": "\n".join(["  ", *[f" {step} " for step in current], ""]), "note": "Why."})
    assert response.status_code == 400
    assert "These are the playbook&#x27;s current steps: change at least one." in response.content.decode()
    response = client.post(url, {"steps": "\n\n", "note": "Why."})
    assert response.status_code == 400 and "Write at least one step, one per line." in response.content.decode()
    assert not PlaybookRevision.objects.exists()


def test_a_rejection_says_why_and_leaves_the_playbook(lead, lead2, study) -> None:
    revision = playbook_revision_propose(user=lead, study=study, steps=new_steps(), note="Mine.")
    with pytest.raises(CaseActionError, match="Say why the proposal is rejected"):
        playbook_revision_reject(user=lead2, revision_id=revision.pk, note=" ")
    playbook_revision_reject(user=lead2, revision_id=revision.pk, note="The score is asked for already.")
    revision.refresh_from_db()
    assert (revision.status, revision.decision_note) == ("rejected", "The score is asked for already.")
    with pytest.raises(CaseActionError, match="already rejected"):
        playbook_revision_accept(user=lead2, revision_id=revision.pk)
    assert Playbook.objects.get(cause=CAUSE).version == 1


def test_only_leads_propose_and_accept(client: Client, service, lead, study) -> None:
    revision = playbook_revision_propose(user=lead, study=study, steps=new_steps(), note="Mine.")
    client.force_login(service)
    assert client.get(reverse("studies:propose", args=[study.pk])).status_code == 403
    assert client.post(reverse("studies:propose", args=[study.pk]), {"steps": "a", "note": "b"}).status_code == 403
    assert client.post(reverse("casework:playbook_revision_accept", args=[revision.pk])).status_code == 403
    assert (
        client.post(reverse("casework:playbook_revision_reject", args=[revision.pk]), {"note": "no"}).status_code == 403
    )
    assert client.get(revision.get_absolute_url()).status_code == 200  # everyone reads it
    assert "Accept: make it the next version" not in client.get(revision.get_absolute_url()).content.decode()
    assert client.get(reverse("casework:playbook_revision_accept", args=[revision.pk])).status_code == 405
    revision.refresh_from_db()
    assert revision.status == "proposed"


def test_the_pages_show_the_proposal_and_the_history(client: Client, lead, lead2, study) -> None:
    old = playbook_current_steps(Playbook.objects.get(cause=CAUSE))
    proposed = new_steps()
    early = open_case()
    client.force_login(lead)
    page = client.get(study.get_absolute_url()).content.decode()
    assert "Propose a playbook change" in page and "None yet." in page
    form = client.get(reverse("studies:propose", args=[study.pk])).content.decode()
    assert "Ask for the latest score on day one." in form and old[0] in form
    response = client.post(
        reverse("studies:propose", args=[study.pk]), {"steps": "\n".join(proposed), "note": "Day one."}, follow=True
    )
    revision = PlaybookRevision.objects.get()
    assert response.redirect_chain[-1][0] == revision.get_absolute_url()
    page = response.content.decode()
    assert (
        "Change proposed." in page and "<ins>Book the next review date</ins>" in page and f"<del>{old[3]}</del>" in page
    )
    playbook_page = client.get(reverse("casework:playbook", args=[CAUSE])).content.decode()
    assert revision.get_absolute_url() in playbook_page and "Version 1" in playbook_page

    client.force_login(lead2)
    response = client.post(reverse("casework:playbook_revision_accept", args=[revision.pk]), {"note": ""}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("casework:playbook", args=[CAUSE])
    assert "the playbook is now at version 2" in page
    assert "Version 2 · since" in page and "by Lead2 Tester" in page
    assert "<ins>Book the next review date</ins>" in page and f"<del>{old[3]}</del>" in page
    assert study.get_absolute_url() in page and "The first version of this playbook." in page
    assert "became version 2" in client.get(study.get_absolute_url()).content.decode()

    case_page = client.get(early.get_absolute_url()).content.decode()
    assert "Checklist from playbook version 1 (the playbook is now at version 2)" in case_page
    assert "the playbook is now" not in client.get(open_case().get_absolute_url()).content.decode()


def test_a_stale_proposal_says_so_on_its_page(client: Client, lead, lead2, study) -> None:
    first = playbook_revision_propose(user=lead, study=study, steps=new_steps(), note="One.")
    second = playbook_revision_propose(user=lead, study=study, steps=["Only one step"], note="Two.")
    playbook_revision_accept(user=lead2, revision_id=first.pk)
    client.force_login(lead2)
    assert (
        "The playbook changed since this proposal (now version 2)"
        in client.get(second.get_absolute_url()).content.decode()
    )
    response = client.post(reverse("casework:playbook_revision_accept", args=[second.pk]), follow=True)
    assert "propose again from the current steps" in response.content.decode()
    response = client.post(reverse("casework:playbook_revision_reject", args=[second.pk]), {"note": ""})
    assert response.status_code == 400 and "Say why the proposal is rejected" in response.content.decode()


def test_the_playbook_page_pins_its_query_count(client: Client, lead, lead2, study, django_assert_num_queries) -> None:
    client.force_login(lead)
    url = reverse("casework:playbook", args=[CAUSE])
    client.get(url)
    # session, user, menu permissions (2), the playbook, its steps, versions (with their proposal and study),
    # open proposals, the studies and their count, header roles and departments
    with django_assert_num_queries(12) as few:
        client.get(url)
    for number in range(3):
        revision = playbook_revision_propose(user=lead, study=study, steps=[f"Step {number}"], note="Again.")
        playbook_revision_accept(user=lead2, revision_id=revision.pk)
    playbook_revision_propose(user=lead, study=study, steps=["Open"], note="Open.")
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert len(response.context["playbook"].history) == 4


def test_the_other_leads_hear_of_a_proposal_and_its_author_of_the_decision(lead, lead2, study, service) -> None:
    from portal.models import Notice

    revision = playbook_revision_propose(user=lead, study=study, steps=new_steps(), note="From the study.")
    waiting = Notice.objects.get(kind=Notice.Kind.PLAYBOOK_PROPOSED)
    assert (waiting.recipient, waiting.url) == (lead2, revision.get_absolute_url())  # not the proposer, not agents
    assert (
        waiting.text
        == f"Lead Tester proposes a change to the playbook “{revision.playbook.title}”: accept or reject it."
    )
    playbook_revision_accept(user=lead2, revision_id=revision.pk)
    decided = Notice.objects.get(kind=Notice.Kind.PLAYBOOK_DECIDED)
    assert decided.recipient == lead
    assert decided.text == f"Lead2 Tester accepted your change to the playbook “{revision.playbook.title}”."
    other = playbook_revision_propose(user=lead2, study=study, steps=["One step only"], note="Simpler.")
    playbook_revision_reject(user=lead, revision_id=other.pk, note="Too short.")
    rejected = Notice.objects.get(kind=Notice.Kind.PLAYBOOK_DECIDED, recipient=lead2)
    assert "rejected your change" in rejected.text
