"""Every write to cases, each with its timeline entry (incidents: ``casework.incidents``).

Cases open and resolve with their account (``accounts.services`` calls in here inside the
account's transaction); people move them through the status machine, assign, hand off,
comment and tick the playbook. Every move checks the version the person was looking at.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import FSMField, can_proceed

from accounts.models import LoanAccount
from casework.models import (
    OPEN_STATUSES,
    Case,
    CaseCause,
    CaseEvent,
    ChecklistItem,
    CustomerFeedback,
    Incident,
    Playbook,
    Resolution,
    SlaPolicy,
    Status,
    WipLimit,
    WontFixReason,
)
from casework.notices import notify_case_handed, notify_cases_assigned
from casework.policy import DEPARTMENT_FOR_CAUSE, may_assign, may_work, priority_for
from portal.actors import Actor, person_name
from portal.bulk import bulk_insert, bulk_save_fields
from portal.models import Department

# Used when an admin has removed a priority's SLA row: better a sensible clock than none.
FALLBACK_SLA = (timedelta(hours=8), timedelta(days=3))
STATUS_MOVES = {
    "start": gettext_lazy("Start work"),
    "wait_for_customer": gettext_lazy("Wait for customer"),
    "resume": gettext_lazy("Resume"),
    "resolve": gettext_lazy("Resolve"),
    "close": gettext_lazy("Close"),
    "reopen": gettext_lazy("Reopen"),
}


class CaseActionError(Exception):
    """A refused action on a case, with a message for the person who tried it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CaseUnchanged(CaseActionError):
    """What was asked is already so: nothing to do, and nothing wrong."""


class WipLimitReached(CaseActionError):
    """A move past a board column's WIP limit that a lead of the department may make, saying why."""


class CaseChanged(CaseActionError):
    def __init__(self, case: Case) -> None:
        last = case.events.order_by("-created_at", "-id").first()
        if last:
            message = _(
                "%(who)s changed this case at %(when)s, after you opened it. Nothing was saved: "
                "look at the case as it is now and try again if still needed."
            ) % {"who": last.actor_name, "when": date_format(timezone.localtime(last.created_at), "DATETIME_FORMAT")}
        else:
            message = _("This case changed after you opened it. Nothing was saved; reload and try again.")
        super().__init__(message)


def _event(
    case: Case, kind: str, actor: Actor, text: str = "", *, from_status: str = "", to_status: str = ""
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor.user,
        actor_name=actor.name,
        text=text,
        from_status=from_status,
        to_status=to_status,
    )


def _lock(case_id: int, expected_version: int | None = None) -> Case:
    try:
        case = Case.objects.select_for_update(of=("self",)).select_related("account").get(pk=case_id)
    except Case.DoesNotExist:
        raise CaseActionError(_("This case does not exist any more.")) from None
    _check_version(case, expected_version)
    return case


def _check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise CaseChanged(case)


def _target(move: str) -> str | None:
    """The status a move leads to, when it leads to one only (``resolve`` → resolved)."""
    status = Case._meta.get_field("status")
    assert isinstance(status, FSMField)
    targets = {str(transition.target) for transition in status.get_all_transitions(Case) if transition.name == move}
    return targets.pop() if len(targets) == 1 else None


def _save(case: Case) -> None:
    case.version += 1
    case.save()


def sla_for(priority: int) -> tuple[timedelta, timedelta]:
    """Time to assign and time to resolve for a case of this priority (the admin sets them)."""
    policy = SlaPolicy.objects.filter(priority=priority).first()
    return (policy.time_to_assign, policy.time_to_resolve) if policy else FALLBACK_SLA


# --- with the account ------------------------------------------------------------------------


def _drill_of(account: LoanAccount) -> int | None:
    """A drill account's later cases belong to the same drill (one query, drill accounts only)."""
    if not account.is_drill:
        return None
    return Case.objects.filter(account=account, drill__isnull=False).values_list("drill_id", flat=True).first()


def _new_case(
    account: LoanAccount, cause: str, opened: datetime, sla: Callable[[int], tuple[timedelta, timedelta] | None]
) -> Case:
    """The unsaved case of ``account`` for ``cause``: its department, priority and SLA clock from ``opened``."""
    priority = priority_for(account)
    to_assign, to_resolve = sla(priority) or FALLBACK_SLA
    return Case(
        account=account,
        cause=cause,
        department_id=DEPARTMENT_FOR_CAUSE[cause],
        priority=priority,
        opened_at=opened,
        assign_due_at=opened + to_assign,
        resolve_due_at=opened + to_resolve,
        is_drill=account.is_drill,
    )


def case_open_for_account(*, account: LoanAccount, cause: str, actor: Actor, note: str = "") -> Case:
    """Open the case for an account that just became empty (or has another problem), or note it on the open one.

    ``note`` says what happened, for causes other than the account going empty (e.g. core
    banking refused a command). Safe against a concurrent opening for the same account and
    cause: the database allows one open case per pair, and the loser of that race adds to
    the winner's timeline.
    """
    cause_label = CaseCause(cause).label
    existing = Case.objects.open().filter(account=account, cause=cause).first()
    if existing is None:
        case = _new_case(account, cause, timezone.now(), sla_for)
        case.drill_id = _drill_of(account)
        playbook = Playbook.objects.filter(cause=cause).first()
        case.playbook_version = playbook.version if playbook else None
        try:
            with transaction.atomic():
                case.save(force_insert=True)
        except IntegrityError:
            # Another transaction opened it first; anything else is a real error.
            existing = Case.objects.open().filter(account=account, cause=cause).first()
            if existing is None:
                raise
        else:
            if playbook:
                ChecklistItem.objects.bulk_create(
                    ChecklistItem(case=case, position=step.position, text=step.text) for step in playbook.steps.all()
                )
            _event(
                case,
                CaseEvent.Kind.OPENED,
                actor,
                note or _("Opened: the account went to the empty-card state (%(cause)s).") % {"cause": cause_label},
                to_status=Status.NEW,
            )
            return case
    _event(
        existing,
        CaseEvent.Kind.SYSTEM,
        actor,
        note or _("The account went to the empty-card state (%(cause)s) again.") % {"cause": cause_label},
    )
    return existing


def cases_open_bulk(
    *, accounts: Sequence[LoanAccount], actor: Actor, cause: str = "", note: str = "", backdate: bool = False
) -> list[Case]:
    """Open a new case for each of these accounts in a constant number of queries.

    ``cause`` is the same for all, or each account's empty cause when blank; ``backdate`` opens
    each case when its account went empty (data loaded without the services). The caller
    knows none of them has an open case for that cause: if another transaction opened one
    meanwhile, the database refuses the insert (one open case per account and cause) and
    the caller's transaction is rolled back with it.
    """
    books = list(Playbook.objects.prefetch_related("steps"))
    playbooks = {playbook.cause: list(playbook.steps.all()) for playbook in books}
    versions = {playbook.cause: playbook.version for playbook in books}
    slas = {priority: sla_for(priority) for priority in (1, 2, 3, 4)}
    now = timezone.now()
    cases = [
        _new_case(account, cause or account.empty_cause, (account.empty_since or now) if backdate else now, slas.get)
        for account in accounts
    ]
    for case in cases:
        case.playbook_version = versions.get(case.cause)
    bulk_insert(Case, cases, with_ids=True)
    bulk_insert(
        ChecklistItem,
        [
            ChecklistItem(case=case, position=step.position, text=step.text)
            for case in cases
            for step in playbooks.get(case.cause, [])
        ],
    )
    bulk_insert(
        CaseEvent,
        [
            CaseEvent(
                case=case,
                kind=CaseEvent.Kind.OPENED,
                actor=actor.user,
                actor_name=actor.name,
                text=note
                or _("Opened: the account went to the empty-card state (%(cause)s).")
                % {"cause": CaseCause(case.cause).label},
                to_status=Status.NEW,
                created_at=case.opened_at,
            )
            for case in cases
        ],
    )
    return cases


def _case_values(case: Case) -> dict[str, Any]:
    return {field.attname: getattr(case, field.attname) for field in Case._meta.concrete_fields}


def cases_resolve_for_accounts(*, account_ids: Collection[int], actor: Actor, text: str) -> int:
    """Resolve every open case of these accounts, each with its timeline entry; settle their incidents.

    A constant number of queries however many accounts (a reactivation batch resolves its
    micro-batch's cases at once): the open cases are locked in one query, ``Case.resolve``
    runs on each (the SLA clock stays in the model), then one update, one insert of the
    timeline entries and one update of the incidents. Called inside the accounts' transaction.
    """
    cases = list(Case.objects.open().filter(account_id__in=account_ids).select_for_update(of=("self",)).order_by("pk"))
    if not cases:
        return 0
    cases_move_bulk(cases, Case.resolve, actor=actor, text=lambda case: text)
    incidents_settle({case.incident_id for case in cases if case.incident_id})
    return len(cases)


def cases_move_bulk(
    cases: Sequence[Case], move: Callable[[Case], None], *, actor: Actor, text: Callable[[Case], str]
) -> None:
    """Make one status move on each of these locked cases, each with its timeline entry.

    ``move`` runs on each (the SLA clock stays in the model); then one update of the fields it
    changed (and the versions) and one insert of the timeline entries, however many cases.
    """
    if not cases:
        return
    changed: set[str] = set()
    events = []
    for case in cases:
        before, from_status = _case_values(case), case.status
        move(case)
        case.version += 1
        changed.update(name for name, value in _case_values(case).items() if before[name] != value)
        events.append(
            CaseEvent(
                case=case,
                kind=CaseEvent.Kind.STATUS,
                actor=actor.user,
                actor_name=actor.name,
                text=text(case),
                from_status=from_status,
                to_status=case.status,
            )
        )
    bulk_save_fields(cases, sorted(changed))
    for case in cases:  # saved: a later save() of these instances is not a concurrent change
        case._update_initial_state()
    CaseEvent.objects.bulk_create(events)


def incidents_settle(incident_ids: Collection[int] | QuerySet[Any, Any]) -> int:
    """Resolve those fixed incidents whose re-drive has left no open case (one update).

    Also run when a reactivation batch finishes: two workers resolving an incident's last
    cases at the same time each still see the other's cases open until it commits.
    """
    return (
        Incident.objects.filter(pk__in=incident_ids, status=Incident.IncidentStatus.FIXED)
        .exclude(cases__status__in=OPEN_STATUSES)
        .update(status=Incident.IncidentStatus.RESOLVED, resolved_at=timezone.now())
    )


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
