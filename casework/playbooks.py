"""Playbooks that learn: a lead proposes new steps from a case study, another lead accepts them.

Each accepted proposal makes a new version of the playbook: its steps replace the old ones, and
the version keeps a copy of them with what changed. Open cases keep the checklist they were
opened with; cases opened afterwards get the new steps and say which version they came from.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from casework.models import CaseStudy, Playbook, PlaybookRevision, PlaybookStep, PlaybookVersion
from casework.notices import notify_playbook_decided, notify_playbook_proposed
from casework.services import CaseActionError
from portal.actors import person_name

PROPOSE = "casework.add_playbookrevision"
ACCEPT = "casework.accept_playbookrevision"
MAX_STEPS = 30
STEP_MAX_LENGTH = PlaybookStep._meta.get_field("text").max_length or 300


def playbook_steps_clean(lines: list[str]) -> list[str]:
    """The proposed steps without blank lines or surrounding spaces; refused when none or too long."""
    steps = [line.strip() for line in lines if line.strip()]
    if not steps:
        raise CaseActionError(_("Write at least one step, one per line."))
    if len(steps) > MAX_STEPS:
        raise CaseActionError(
            _("A playbook has at most %(limit)d steps; this proposal has %(count)d: merge some.")
            % {"limit": MAX_STEPS, "count": len(steps)}
        )
    for number, step in enumerate(steps, start=1):
        if len(step) > STEP_MAX_LENGTH:
            raise CaseActionError(
                _("Step %(number)d is %(length)d characters long; at most %(limit)d are accepted: shorten it.")
                % {"number": number, "length": len(step), "limit": STEP_MAX_LENGTH}
            )
    return steps


def playbook_diff(old: list[str], new: list[str]) -> dict[str, list[Any]]:
    """What changed from ``old`` to ``new``: steps added, changed (pairs of old and new) and removed.

    A replaced run of steps pairs its old and new steps in order as changed; what is left over
    on either side counts as removed or added.
    """
    diff: dict[str, list[Any]] = {"added": [], "changed": [], "removed": []}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        before, after = old[i1:i2], new[j1:j2]
        if tag == "replace":
            paired = min(len(before), len(after))
            diff["changed"] += [[was, now] for was, now in zip(before[:paired], after[:paired], strict=True)]
            diff["removed"] += before[paired:]
            diff["added"] += after[paired:]
        elif tag == "delete":
            diff["removed"] += before
        elif tag == "insert":
            diff["added"] += after
    return diff


def playbook_diff_rows(old: list[str], new: list[str]) -> list[dict[str, str]]:
    """``new`` against ``old`` line by line, for a page: each row kept, added, removed, or changed (with ``was``)."""
    rows: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        before, after = old[i1:i2], new[j1:j2]
        if tag == "equal":
            rows += [{"kind": "kept", "text": text} for text in after]
        elif tag == "replace":
            paired = min(len(before), len(after))
            rows += [{"kind": "changed", "text": now, "was": was} for was, now in zip(before, after, strict=False)]
            rows += [{"kind": "removed", "text": text} for text in before[paired:]]
            rows += [{"kind": "added", "text": text} for text in after[paired:]]
        elif tag == "delete":
            rows += [{"kind": "removed", "text": text} for text in before]
        else:
            rows += [{"kind": "added", "text": text} for text in after]
    return rows


# --- reads --------------------------------------------------------------------------------------


def playbook_for_page(cause: str) -> Playbook | None:
    """The cause's playbook with its steps, its versions (newest first, with the study behind each)
    and its open proposals: a constant number of queries however long its history."""
    return (
        Playbook.objects.filter(cause=cause)
        .prefetch_related(
            "steps",
            Prefetch(
                "versions",
                queryset=PlaybookVersion.objects.select_related("revision__study").order_by("-number"),
                to_attr="history",
            ),
            Prefetch(
                "revisions",
                queryset=PlaybookRevision.objects.filter(status=PlaybookRevision.RevisionStatus.PROPOSED)
                .select_related("study")
                .order_by("proposed_at", "id"),
                to_attr="open_revisions",
            ),
        )
        .first()
    )


def revision_for_page(pk: int) -> PlaybookRevision | None:
    return PlaybookRevision.objects.select_related("playbook", "study").filter(pk=pk).first()


def study_revisions(study: CaseStudy) -> QuerySet[PlaybookRevision]:
    """The playbook changes proposed from a case study, newest first."""
    return study.playbook_revisions.order_by("-proposed_at", "-id")


def playbook_current_steps(playbook: Playbook) -> list[str]:
    """The playbook's steps as they are now, in order."""
    return list(playbook.steps.order_by("position").values_list("text", flat=True))


# --- writes -------------------------------------------------------------------------------------


@transaction.atomic
def playbook_revision_propose(*, user: User, study: CaseStudy, steps: list[str], note: str) -> PlaybookRevision:
    """Propose new steps for the playbook of the study's cause, written against its current version."""
    if not user.has_perm(PROPOSE):
        raise PermissionDenied(_("Only team leads propose playbook changes."))
    playbook = Playbook.objects.filter(cause=study.cause).first()
    if playbook is None:
        raise CaseActionError(
            _("This cause has no playbook yet: an admin creates it first, then its steps can be proposed here.")
        )
    cleaned = playbook_steps_clean(steps)
    if cleaned == playbook_current_steps(playbook):
        raise CaseActionError(_("These are the playbook's current steps: change at least one."))
    if not note.strip():
        raise CaseActionError(_("Say why the playbook should change: the lead who decides reads it."))
    revision = PlaybookRevision(
        playbook=playbook,
        study=study,
        base_version=playbook.version,
        steps=cleaned,
        note=note.strip(),
        proposed_by=user,
        proposed_by_name=person_name(user),
    )
    revision.full_clean(exclude=["status"])  # protected: set by its transitions only
    revision.save()
    notify_playbook_proposed(revision, set(playbook_deciders().values_list("pk", flat=True)))
    return revision


def _open_revision(revision_id: int) -> PlaybookRevision:
    """The revision and its playbook, both locked; refused unless still proposed."""
    revision = PlaybookRevision.objects.select_for_update().get(pk=revision_id)
    revision.playbook = Playbook.objects.select_for_update().get(pk=revision.playbook_id)
    if revision.status == PlaybookRevision.RevisionStatus.ACCEPTED:
        raise CaseActionError(
            _("%(name)s already accepted this proposal: it is version %(version)s.")
            % {"name": revision.decided_by_name, "version": revision.resulting_version}
        )
    if revision.status == PlaybookRevision.RevisionStatus.REJECTED:
        raise CaseActionError(_("%(name)s already rejected this proposal.") % {"name": revision.decided_by_name})
    return revision


def playbook_deciders() -> QuerySet[User]:
    """Who may accept or reject a proposed change: by their role's permission or their own (superusers aside)."""
    app, codename = ACCEPT.split(".")
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app)
            | Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app)
        )
        .distinct()
    )


def _other_deciders(user: User) -> list[str]:
    """Who else may accept a proposal, for the refusal's message."""
    return [person_name(other) for other in playbook_deciders().exclude(pk=user.pk).order_by("username")[:5]]


@transaction.atomic
def playbook_revision_accept(*, user: User, revision_id: int, note: str = "") -> PlaybookVersion:
    """Accept a proposal: its steps become the playbook's, as a new version with what changed.

    Four eyes: the proposer may not accept their own. Refused when the playbook has changed
    since the proposal was written (its steps would undo the change accepted meanwhile).
    """
    if not user.has_perm(ACCEPT):
        raise PermissionDenied(_("Only team leads accept playbook changes."))
    revision = _open_revision(revision_id)
    if revision.proposed_by_id == user.pk:
        others = _other_deciders(user)
        raise CaseActionError(
            _("You proposed this change: another lead accepts it (%(names)s).")
            % {"names": ", ".join(others) or _("ask an admin to add one")}
        )
    playbook = revision.playbook
    if revision.base_version != playbook.version:
        raise CaseActionError(
            _(
                "The playbook changed since this proposal (now version %(version)d): propose again from the "
                "current steps."
            )
            % {"version": playbook.version}
        )
    old_steps = playbook_current_steps(playbook)
    playbook.version += 1
    revision.accept(user, person_name(user), note.strip(), playbook.version)
    revision.save()
    playbook.save(update_fields=["version"])
    playbook.steps.all().delete()
    PlaybookStep.objects.bulk_create(
        PlaybookStep(playbook=playbook, position=position, text=text)
        for position, text in enumerate(revision.steps, start=1)
    )
    notify_playbook_decided(revision)
    return PlaybookVersion.objects.create(
        playbook=playbook,
        number=playbook.version,
        steps=revision.steps,
        diff=playbook_diff(old_steps, revision.steps),
        created_by=user,
        created_by_name=person_name(user),
        revision=revision,
    )


@transaction.atomic
def playbook_revision_reject(*, user: User, revision_id: int, note: str) -> PlaybookRevision:
    """Reject a proposal, saying why; the playbook stays as it is."""
    if not user.has_perm(ACCEPT):
        raise PermissionDenied(_("Only team leads decide on playbook changes."))
    if not note.strip():
        raise CaseActionError(_("Say why the proposal is rejected: its author reads it."))
    revision = _open_revision(revision_id)
    revision.reject(user, person_name(user), note.strip())
    revision.save()
    notify_playbook_decided(revision)
    return revision
