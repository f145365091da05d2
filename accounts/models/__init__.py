"""The accounts app's models, in three modules; import them from here."""

from accounts.models.core import (
    ApprovalRequest,
    AuditEntry,
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
from accounts.models.jobs import (
    ActivationAttempt,
    ReactivationBatch,
    ReactivationItem,
    SimulatorFault,
    SimulatorFaultQuerySet,
)

__all__ = [
    "ActivationAttempt",
    "ActivationLink",
    "ApprovalRequest",
    "AuditEntry",
    "Channel",
    "CoreEvent",
    "CreditReviewProposal",
    "Customer",
    "EmptyCause",
    "LoanAccount",
    "Notification",
    "Product",
    "ReactivationBatch",
    "ReactivationItem",
    "SimulatorFault",
    "SimulatorFaultQuerySet",
    "State",
    "Tranche",
]
