"""What every write to a case shares: the errors, the SLA, the lock, the version check and the timeline entry."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import FSMField

from casework.models import Case, CaseEvent, SlaPolicy
from portal.actors import Actor

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
