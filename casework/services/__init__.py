"""Every write to cases, each with its timeline entry (incidents: ``casework.incidents``).

Cases open and resolve with their account (``accounts.services`` calls in here inside the
account's transaction); people move them through the status machine, assign, hand off,
comment and tick the playbook. Every move checks the version the person was looking at.
"""

from casework.services.common import (
    FALLBACK_SLA,
    STATUS_MOVES,
    CaseActionError,
    CaseChanged,
    CaseUnchanged,
    WipLimitReached,
    sla_for,
)
from casework.services.lifecycle import (
    case_open_for_account,
    cases_move_bulk,
    cases_open_bulk,
    cases_resolve_for_accounts,
    incidents_settle,
)
from casework.services.work import (
    CONTACT_CHANNELS,
    case_checklist_tick,
    case_comment,
    case_contact_record,
    case_hand_off,
    case_link_incident,
    case_transition,
    cases_assign,
)

__all__ = [
    "CONTACT_CHANNELS",
    "FALLBACK_SLA",
    "STATUS_MOVES",
    "CaseActionError",
    "CaseChanged",
    "CaseUnchanged",
    "WipLimitReached",
    "case_checklist_tick",
    "case_comment",
    "case_contact_record",
    "case_hand_off",
    "case_link_incident",
    "case_open_for_account",
    "case_transition",
    "cases_assign",
    "cases_move_bulk",
    "cases_open_bulk",
    "cases_resolve_for_accounts",
    "incidents_settle",
    "sla_for",
]
