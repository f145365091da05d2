"""The accounts app's models, in four modules; import them from here."""

from accounts.models.commands import CoreCommand, ReconciliationRun
from accounts.models.core import (
    ApprovalRequest,
    AuditEntry,
    CardState,
    Channel,
    CoreEvent,
    Customer,
    EmptyCause,
    LoanAccount,
    Product,
    State,
    Tranche,
)
from accounts.models.customer import ActivationLink, CreditReviewProposal, Notification
from accounts.models.jobs import ReactivationBatch, ReactivationItem

__all__ = [
    "ActivationLink",
    "ApprovalRequest",
    "AuditEntry",
    "CardState",
    "Channel",
    "CoreCommand",
    "CoreEvent",
    "CreditReviewProposal",
    "Customer",
    "EmptyCause",
    "LoanAccount",
    "Notification",
    "Product",
    "ReactivationBatch",
    "ReactivationItem",
    "ReconciliationRun",
    "State",
    "Tranche",
]
