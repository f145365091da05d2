"""The casework app's models, in three modules; import them from here."""

from casework.models.cases import (
    BOARD_STATUSES,
    EMPTY_CAUSES,
    OPEN_STATUSES,
    Case,
    CaseCause,
    CaseEvent,
    CaseQuerySet,
    ChecklistItem,
    CustomerFeedback,
    Priority,
    Resolution,
    SlaPolicy,
    Status,
    WipLimit,
    WontFixReason,
)
from casework.models.incidents import Drill, Incident, ReactivationBatch, ReactivationItem
from casework.models.playbooks import CaseStudy, Playbook, PlaybookRevision, PlaybookStep, PlaybookVersion

__all__ = [
    "BOARD_STATUSES",
    "EMPTY_CAUSES",
    "OPEN_STATUSES",
    "Case",
    "CaseCause",
    "CaseEvent",
    "CaseQuerySet",
    "CaseStudy",
    "ChecklistItem",
    "CustomerFeedback",
    "Drill",
    "Incident",
    "Playbook",
    "PlaybookRevision",
    "PlaybookStep",
    "PlaybookVersion",
    "Priority",
    "ReactivationBatch",
    "ReactivationItem",
    "Resolution",
    "SlaPolicy",
    "Status",
    "WipLimit",
    "WontFixReason",
]
