"""Routing and priority of cases: which department owns a cause, how urgent a case is."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from accounts.models import LoanAccount
from accounts.policy import RiskTier
from casework.models import CaseCause
from portal.selectors import department_codes

DEPARTMENT_FOR_CAUSE: dict[str, str] = {
    CaseCause.SYSTEM_CONFIG: "tech",
    CaseCause.CUSTOMER_INCOMPLETE: "service",
    CaseCause.RISK_HOLD: "credit",
    CaseCause.CORE_SYNC: "tech",
    CaseCause.NOT_ISSUED: "credit",
    CaseCause.COMPLAINT: "service",
}

BIG_LINE = Decimal("10000000")  # ¥10 M
LARGE_LINE = Decimal("3000000")  # ¥3 M


def priority_for(account: LoanAccount, *, incident: bool = False) -> int:
    """P1 for the biggest or riskiest lines (and incidents), down to P4 for small low-risk ones."""
    return priority_of(account.customer.risk_tier, account.approved_limit, incident=incident)


def priority_of(tier: str, limit: Decimal, *, incident: bool = False) -> int:
    if incident or limit >= BIG_LINE or (tier == RiskTier.HIGH and limit >= LARGE_LINE):
        return 1
    if limit >= LARGE_LINE or tier == RiskTier.HIGH:
        return 2
    if tier == RiskTier.MEDIUM or limit >= Decimal("1000000"):
        return 3
    return 4


def may_work(user: Any, department_code: str) -> bool:
    """Work a case (take, move, comment, tick): its department's staff and leads, and admins."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user.has_perm("casework.work_case") and department_code in department_codes(user))


def may_assign(user: Any, department_code: str) -> bool:
    """Assign a case to someone: leads of its department, and admins."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user.has_perm("casework.assign_case") and department_code in department_codes(user))
