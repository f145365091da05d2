"""The accounts app's models, in five modules; import them from here."""

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
from accounts.models.imports import ImportRun

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
    "ImportRun",
    "LoanAccount",
    "Notification",
    "Product",
    "ReconciliationRun",
    "State",
    "Tranche",
]
