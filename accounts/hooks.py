"""What an account event asks of casework, inside the account's own transaction.

Accounts sits below casework: it never imports it. Where an account event must open or
resolve a case in the same transaction (the account went empty, became active or closed, core
banking refused a command, reconciliation found a mismatch, an approved line waited too long,
core answered a re-drive), accounts calls the ``CaseHooks`` registered here. Casework registers
its implementation in ``CaseworkConfig.ready()``; with none registered (accounts alone),
calling a hook is a programming error, not a silent no-op.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.db.models import QuerySet

if TYPE_CHECKING:
    from accounts.models import LoanAccount
    from portal.actors import Actor

# The problems of an account that are not an empty-card cause, as casework's case causes name them.
CORE_SYNC = "core_sync"  # core banking and the desk disagree: a refused or late command, a mismatch
NOT_ISSUED = "not_issued"  # an approved line whose card was not issued in time


@dataclass(frozen=True)
class AccountCase:
    """One case of an account, as the account page lists it (labels already in the reader's language)."""

    pk: int
    url: str
    cause: str
    department: str
    status: str  # the code, e.g. "in_progress"
    status_label: str
    is_open: bool
    assignee: Any  # the assigned user, or None
    opened_at: datetime
    resolved_at: datetime | None


class CaseHooks(Protocol):
    def case_open(self, *, account: LoanAccount, cause: str, actor: Actor, note: str = "") -> int:
        """Open the case of ``account`` for ``cause`` (an empty cause, ``CORE_SYNC`` or ``NOT_ISSUED``), or note
        it on the open one; the case's id."""

    def cases_open_new(self, *, accounts: Sequence[LoanAccount], cause: str, actor: Actor, note: str) -> None:
        """Open a case for ``cause`` on each of these locked accounts, none of which has one open, in bulk."""

    def cases_resolve(self, *, account_ids: Collection[int], actor: Actor, text: str) -> int:
        """Resolve every open case of these accounts (they are active, closed or issued now); how many."""

    def accounts_with_case(self, cause: str) -> QuerySet[Any, Any]:
        """The ids of accounts that have (or had) a case for ``cause`` (a subquery: ``values("account_id")``)."""

    def core_answered(self, accounts: Sequence[LoanAccount], *, refused: tuple[str, str] | None = None) -> None:
        """Core banking answered (or, with ``refused`` = (code, message), refused) commands of these locked
        accounts: finish what waited for the answer (a re-drive's items)."""

    def customer_in_cases_of(self, user: Any, customer_id: int) -> bool:
        """Whether one of this customer's accounts has a case ``user`` works on (their department's or theirs)."""

    def cases_reopen_unfixed(self, *, actor: Actor) -> int:
        """Reopen the cases resolved as fixed whose account is (again) empty, each once, saying why; how many.
        Cases resolved as "won't fix" stay resolved."""

    def cases_of_account(self, user: Any, account_id: int) -> list[AccountCase]:
        """The cases of this account that ``user`` may see, open ones first, then the newest: one query."""


class _Unregistered:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"No case hooks are registered (casework is not installed); cannot call {name}.")


_hooks: CaseHooks = _Unregistered()


def register(hooks: CaseHooks) -> None:
    """Casework's ``AppConfig.ready()`` registers its implementation (once per process)."""
    global _hooks
    _hooks = hooks


def cases() -> CaseHooks:
    return _hooks
