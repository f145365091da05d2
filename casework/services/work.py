"""People working a case: status moves, assignment, comments, the checklist, handoffs, incidents, contacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import can_proceed

from casework.models import (
    Case,
    CaseEvent,
    ChecklistItem,
    CustomerFeedback,
    Incident,
    Resolution,
    Status,
    WipLimit,
    WontFixReason,
)
from casework.notices import notify_case_handed, notify_cases_assigned
from casework.policy import may_assign, may_work, priority_for
from casework.services.common import (
    STATUS_MOVES,
    CaseActionError,
    CaseChanged,
    CaseUnchanged,
    WipLimitReached,
    _check_version,
    _event,
    _lock,
    _save,
    _target,
)
from portal.actors import Actor, person_name
from portal.models import Department

# --- people working a case -------------------------------------------------------------------


def _require_work(user: User, case: Case) -> None:
    if not may_work(user, case.department_id):
        raise PermissionDenied(_("Only the %(department)s team can work this case.") % {"department": case.department})


def _check_wip(user: User, department: Department | str, status: str, *, adding: int, override: str) -> str:
    """Refuse a move that takes a board column (a department's status) past its WIP limit.

    The limit's row is locked while counting, so two people moving cards into the last free
    place at the same time cannot both succeed. Agents are refused; a lead of the department
    may go over with a reason, which is returned for the timeline ("" when within the limit).
    Limits count real cases, as the board does: a drill neither fills a column nor is held back.
    """
    department_code = department if isinstance(department, str) else department.code
    limit = WipLimit.objects.select_for_update().filter(department_id=department_code, status=status).first()
    if limit is None or adding <= 0:
        return ""
    count = Case.objects.filter(department_id=department_code, status=status, is_drill=False).count()
    if count + adding <= limit.limit:
        return ""
    values = {
        "column": Status(status).label,
        "department": Department.objects.get(pk=department_code),
        "after": count + adding,
        "limit": limit.limit,
    }
    if not may_assign(user, department_code):
        raise CaseActionError(
            _(
                "“%(column)s” of %(department)s would hold %(after)d cases, past its WIP limit of %(limit)d: "
                "finish a case there first, or ask your team lead."
            )
            % values
        )
    if not override.strip():
        raise WipLimitReached(
            _(
                "“%(column)s” of %(department)s would hold %(after)d cases, past its WIP limit of %(limit)d. "
                "Say why it should go over, or leave the case where it is."
            )
            % values
        )
    return _("Over the WIP limit of “%(column)s” (%(after)d, limit %(limit)d): %(reason)s") % {
        **values,
        "reason": override.strip(),
    }


def _check_resolution(case: Case, *, resolution: str, reason: str, note: str) -> None:
    """Fixed only once the account has left the empty-card state; won't fix only with a reason and a note."""
    if resolution == Resolution.WONT_FIX:
        if reason not in WontFixReason.values:
            raise CaseActionError(_("Choose why the case won't be fixed."))
        if not note:
            raise CaseActionError(_("Say why the case won't be fixed: whoever reads the case later needs it."))
    elif resolution != Resolution.FIXED:
        raise CaseActionError(_("Choose how the case ends: fixed, or won't fix."))
    elif case.account_still_empty:
        raise CaseActionError(
            _(
                "The account is still in the empty-card state (%(cause)s): resolve the case once the account "
                "is active, or choose “won't fix” and say why."
            )
            % {"cause": case.account.get_empty_cause_display()}
        )


@transaction.atomic
def case_transition(
    *,
    case_id: int,
    name: str,
    user: User,
    expected_version: int | None,
    note: str = "",
    resolution: str = Resolution.FIXED,
    reason: str = "",
    wip_override: str = "",
) -> Case:
    """Move a case through its status machine: start, wait for customer, resume, resolve, close, reopen.

    ``resolve`` takes the outcome: fixed (the default; refused while an empty-card case's account
    is still empty), or won't fix with a ``reason`` (``WontFixReason``) and a ``note`` saying why.
    A move into a column at its WIP limit is refused, unless a lead gives ``wip_override``.
    """
    if name not in STATUS_MOVES:
        raise CaseActionError(_("There is no status move called “%(name)s”.") % {"name": name})
    case = _lock(case_id)
    _require_work(user, case)
    target = _target(name)
    if target is not None and case.status == target and not can_proceed(getattr(case, name)):
        raise CaseUnchanged(
            _("Case #%(id)s is already %(status)s; nothing changed.")
            % {"id": case.pk, "status": case.get_status_display().lower()}
        )
    _check_version(case, expected_version)
    method = getattr(case, name)
    if not can_proceed(method):
        raise CaseActionError(
            _("“%(move)s” is not possible while the case is %(status)s.")
            % {"move": STATUS_MOVES[name], "status": case.get_status_display().lower()}
        )
    if name == "start" and case.assignee_id is None:
        raise CaseActionError(_("Assign the case to someone before starting it."))
    real = int(not case.is_drill)
    over = _check_wip(user, case.department_id, target, adding=real, override=wip_override) if target else ""
    from_status, note = case.status, note.strip()
    if name == "resolve":  # the timeline says the outcome
        _check_resolution(case, resolution=resolution, reason=reason, note=note)
        case.resolve(resolution=resolution, reason=reason, note=note)
        if case.resolution == Resolution.WONT_FIX:
            note = _("Resolved as won't fix (%(reason)s): %(note)s") % {
                "reason": case.get_resolution_reason_display(),
                "note": note,
            }
        else:
            note = _("Resolved as fixed: %(note)s") % {"note": note} if note else _("Resolved as fixed.")
    else:
        method()
    _save(case)
    note = " ".join(part for part in (note, over) if part)
    _event(case, CaseEvent.Kind.STATUS, Actor.staff(user), note, from_status=from_status, to_status=case.status)
    return case


def _department_members(department_code: str) -> set[int]:
    return set(
        User.objects.filter(
            is_active=True, staff_profile__departments__code=department_code, groups__permissions__codename="work_case"
        ).values_list("pk", flat=True)
    )


def _taken_by(case: Case) -> str:
    """“Wang Wei at 14:05”: who took the case, and when (its last assignment)."""
    last = case.events.filter(kind=CaseEvent.Kind.ASSIGNMENT).order_by("-created_at", "-id").first()
    who = (person_name(case.assignee)) if case.assignee else "—"
    when = date_format(timezone.localtime(last.created_at), "TIME_FORMAT") if last else "—"
    return _("%(who)s at %(when)s") % {"who": who, "when": when}


@transaction.atomic
def cases_assign(
    *,
    case_ids: Sequence[int],
    assignee: User,
    by: User,
    expected_versions: Mapping[int, int] | None = None,
    wip_override: str = "",
) -> list[Case]:
    """Assign cases to a member of their department; all of them or none. Returns those that changed.

    Leads assign within the departments they lead; anyone may take an unassigned case of
    their own department for themselves. A case already with ``assignee`` is left as it is (no
    event, no new version); ``expected_versions`` (case id → the version the user saw) refuses
    the whole assignment when a case changed since, saying who changed it. Permission comes
    first, then whether the case is still open, then "already so", then the version. New cases
    move to "assigned": past that column's WIP limit only a lead, with ``wip_override``.
    """
    if not case_ids:
        raise CaseActionError(_("Select at least one case to assign."))
    cases = list(
        Case.objects.select_for_update(of=("self",))
        .select_related("account", "department", "assignee")
        .filter(pk__in=case_ids)
        .order_by("pk")
    )
    if len(cases) != len(set(case_ids)):
        raise CaseActionError(_("Some of the selected cases do not exist any more; reload the board."))
    members: dict[str, set[int]] = {}
    changing = []
    for case in cases:
        taking = assignee.pk == by.pk
        if not may_assign(by, case.department_id):
            if not (taking and may_work(by, case.department_id)):
                raise PermissionDenied(
                    _("You cannot assign case #%(id)s: it belongs to %(department)s.")
                    % {"id": case.pk, "department": case.department}
                )
            if case.assignee_id not in (None, by.pk):
                raise CaseActionError(
                    _("Case #%(id)s was already taken by %(taken)s.") % {"id": case.pk, "taken": _taken_by(case)}
                )
        if not case.is_open:
            raise CaseActionError(_("Case #%(id)s is already %(status)s.") % {"id": case.pk, "status": case.status})
        if case.assignee_id == assignee.pk:
            continue  # already so
        if expected_versions and case.pk in expected_versions and case.version != expected_versions[case.pk]:
            raise CaseChanged(case)
        if case.department_id not in members:
            members[case.department_id] = _department_members(case.department_id)
        if assignee.pk not in members[case.department_id]:
            raise CaseActionError(
                _("%(who)s is not in %(department)s, so case #%(id)s cannot go to them. Nothing was assigned.")
                % {"who": person_name(assignee), "department": case.department, "id": case.pk}
            )
        changing.append(case)
    over = {
        department: _check_wip(
            by,
            department,
            Status.ASSIGNED,
            adding=sum(
                1
                for case in changing
                if case.department_id == department and case.status == Status.NEW and not case.is_drill
            ),
            override=wip_override,
        )
        for department in sorted({case.department_id for case in changing})
    }
    actor = Actor.staff(by)
    for case in changing:
        previous = case.assignee
        case.assignee = assignee
        from_status = case.status
        if case.status == Status.NEW:
            case.mark_assigned()
        else:
            case.first_assigned_at = case.first_assigned_at or timezone.now()
        _save(case)
        who = person_name(assignee)
        if previous and previous != assignee:
            text = _("Reassigned from %(old)s to %(new)s.") % {"old": person_name(previous), "new": who}
        elif assignee.pk == by.pk:
            text = _("%(who)s took the case.") % {"who": who}
        else:
            text = _("Assigned to %(who)s.") % {"who": who}
        if from_status == Status.NEW and over[case.department_id]:
            text = f"{text} {over[case.department_id]}"
        _event(case, CaseEvent.Kind.ASSIGNMENT, actor, text, from_status=from_status, to_status=case.status)
    notify_cases_assigned(changing, by=by)
    return changing


@transaction.atomic
def case_comment(*, case_id: int, user: User, text: str) -> CaseEvent:
    if not text.strip():
        raise CaseActionError(_("Write something before sending the comment."))
    case = _lock(case_id)
    _require_work(user, case)
    return _event(case, CaseEvent.Kind.COMMENT, Actor.staff(user), text.strip())


@transaction.atomic
def case_checklist_tick(*, case_id: int, item_id: int, user: User, done: bool) -> ChecklistItem:
    case = _lock(case_id)
    _require_work(user, case)
    try:
        item = case.checklist.select_for_update().get(pk=item_id)
    except ChecklistItem.DoesNotExist:
        raise CaseActionError(_("That checklist item is not on this case.")) from None
    if bool(item.done_at) == done:
        return item
    item.done_at = timezone.now() if done else None
    item.done_by = user if done else None
    item.save()
    text = (_("Ticked: %(step)s") if done else _("Unticked: %(step)s")) % {"step": item.text}
    _event(case, CaseEvent.Kind.CHECKLIST, Actor.staff(user), text)
    return item


@transaction.atomic
def case_hand_off(*, case_id: int, department: str, user: User, note: str, expected_version: int | None) -> Case:
    """Move a case to another department, unassigned, with a note saying why."""
    case = _lock(case_id, expected_version)
    _require_work(user, case)
    if not note.strip():
        raise CaseActionError(_("Say why the case moves: the other team reads it first."))
    target = Department.objects.filter(code=department).first()
    if target is None:
        raise CaseActionError(_("Choose the department the case goes to."))
    if target.code == case.department_id:
        raise CaseActionError(_("The case is already with %(department)s.") % {"department": target})
    if not can_proceed(case.hand_off):
        raise CaseActionError(_("Only open cases can be handed off."))
    from_status, from_department = case.status, case.department
    case.hand_off()
    case.department = target
    _save(case)
    _event(
        case,
        CaseEvent.Kind.HANDOFF,
        Actor.staff(user),
        _("Handed off from %(old)s to %(new)s: %(note)s")
        % {"old": from_department, "new": target, "note": note.strip()},
        from_status=from_status,
        to_status=case.status,
    )
    notify_case_handed(case, by=user)
    return case


@transaction.atomic
def case_link_incident(*, case_id: int, incident_id: int | None, user: User) -> Case:
    """Attach a case to an incident (or detach it with ``None``); the priority follows."""
    case = _lock(case_id)
    _require_work(user, case)
    incident = Incident.objects.filter(pk=incident_id).first() if incident_id else None
    if incident_id and incident is None:
        raise CaseActionError(_("That incident does not exist."))
    case.incident = incident
    if incident:
        case.priority = min(case.priority, priority_for(case.account, incident=True))
    _save(case)
    text = (
        _("Linked to incident “%(title)s”.") % {"title": incident.title}
        if incident
        else _("Unlinked from its incident.")
    )
    _event(case, CaseEvent.Kind.INCIDENT, Actor.staff(user), text)
    return case


CONTACT_CHANNELS = {"phone": gettext_lazy("Phone call"), "sms": gettext_lazy("SMS"), "email": gettext_lazy("Email"),
                    "visit": gettext_lazy("Visit")}  # fmt: skip


@transaction.atomic
def case_contact_record(*, case_id: int, user: User, channel: str, outcome: str) -> CaseEvent:
    """A service agent notes a contact with the customer: how, and what came of it.

    It answers the case's complaints still waiting for a response (their first response).
    """
    if channel not in CONTACT_CHANNELS:
        raise CaseActionError(_("Choose how you reached the customer."))
    if not outcome.strip():
        raise CaseActionError(_("Write what came of the contact: the next person on the case reads it."))
    case = _lock(case_id)
    _require_work(user, case)
    event = _event(case, CaseEvent.Kind.CONTACT, Actor.staff(user), f"{CONTACT_CHANNELS[channel]}: {outcome.strip()}")
    # The first contact after a complaint is its first response (one update, none when nothing waits).
    CustomerFeedback.objects.filter(
        case=case, first_response_at__isnull=True, recorded_at__lte=event.created_at
    ).update(first_response_at=event.created_at)
    return event
