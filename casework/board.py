"""Moving cards on the board: the status move that takes a case from one column to another.

A card dropped on another column (or moved there from its menu) is the case's own status move,
run by ``casework.services`` with its version check, WIP limit and timeline line; a card dropped
on a person (leads) is an assignment. "Assigned" from "New" is taking the case.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from casework.models import BOARD_STATUSES, Case, Status
from casework.policy import may_assign
from casework.selectors import assignable_staff
from casework.services import STATUS_MOVES, CaseActionError, CaseChanged, CaseUnchanged, case_transition, cases_assign
from portal.actors import person_name

TAKE = "take"


def _board_moves() -> dict[tuple[str, str], str]:
    field = Case._meta.get_field("status")
    moves = {
        (str(transition.source), str(transition.target)): transition.name
        for transition in field.get_all_transitions(Case)
        if transition.name in STATUS_MOVES
        and transition.source in BOARD_STATUSES
        and transition.target in BOARD_STATUSES
        and transition.source != transition.target
    }
    moves[(Status.NEW.value, Status.ASSIGNED.value)] = TAKE
    return moves


BOARD_MOVES = _board_moves()


def board_move_name(source: str, target: str) -> str | None:
    """The move from one column to another, or None when the board has no such move."""
    return BOARD_MOVES.get((source, target))


def board_targets(source: str) -> list[str]:
    """The columns a card in ``source`` can move to, in the board's order."""
    return [status for status in BOARD_STATUSES if (source, status) in BOARD_MOVES]


def case_board_move(
    *,
    case: Case,
    user: User,
    to: str,
    assignee_id: int | None,
    expected_version: int,
    wip_override: str = "",
) -> Case:
    """Move a card as the user saw it (``expected_version``): to the column ``to``, or to a person.

    Refused, saying why, when someone changed the case since (naming who), when the board has no
    such move, or past a WIP limit (``WipLimitReached`` for a lead without ``wip_override``).
    """
    if case.version != expected_version:
        raise CaseChanged(case)
    if assignee_id:
        if not may_assign(user, case.department_id):
            raise PermissionDenied(_("Only a lead of the case's department assigns it to someone else."))
        person = next((member for member in assignable_staff(user) if member.pk == assignee_id), None)
        if person is None:
            raise CaseActionError(_("That person cannot take cases of this department; choose someone of the team."))
        assigned = cases_assign(
            case_ids=[case.pk],
            assignee=person,
            by=user,
            expected_versions={case.pk: expected_version},
            wip_override=wip_override,
        )
        if not assigned:
            who = person_name(person)
            raise CaseUnchanged(_("Case #%(id)s is already with %(who)s.") % {"id": case.pk, "who": who})
        return assigned[0]
    name = board_move_name(case.status, to)
    if name is None:
        raise CaseActionError(
            _("Case #%(id)s cannot go from “%(from)s” to “%(to)s” on the board; open the case to see what it needs.")
            % {"id": case.pk, "from": case.get_status_display(), "to": Status(to).label}
        )
    if name == TAKE:
        return cases_assign(
            case_ids=[case.pk],
            assignee=user,
            by=user,
            expected_versions={case.pk: expected_version},
            wip_override=wip_override,
        )[0]
    return case_transition(
        case_id=case.pk, name=name, user=user, expected_version=expected_version, wip_override=wip_override
    )
