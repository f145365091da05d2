"""Casework's answer to the hooks accounts calls (``accounts.hooks``), registered in ``CaseworkConfig.ready()``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.db.models import QuerySet

from accounts.hooks import AccountCase
from accounts.models import LoanAccount
from casework.batches import batch_items_settle
from casework.models import Case
from casework.outcomes import cases_reopen_unfixed
from casework.selectors import account_cases
from casework.services import case_open_for_account, cases_open_bulk, cases_resolve_for_accounts
from portal.actors import Actor


class CaseworkHooks:
    def case_open(self, *, account: LoanAccount, cause: str, actor: Actor, note: str = "") -> int:
        return case_open_for_account(account=account, cause=cause, actor=actor, note=note).pk

    def cases_open_new(self, *, accounts: Sequence[LoanAccount], cause: str, actor: Actor, note: str) -> None:
        cases_open_bulk(accounts=accounts, cause=cause, actor=actor, note=note)

    def cases_resolve(self, *, account_ids: Collection[int], actor: Actor, text: str) -> int:
        return cases_resolve_for_accounts(account_ids=account_ids, actor=actor, text=text)

    def accounts_with_case(self, cause: str) -> QuerySet[Any, Any]:
        return Case.objects.filter(cause=cause).values("account_id")

    def core_answered(self, accounts: Sequence[LoanAccount], *, refused: tuple[str, str] | None = None) -> None:
        batch_items_settle(accounts, refused=refused)

    def customer_in_cases_of(self, user: Any, customer_id: int) -> bool:
        return Case.objects.visible_to(user).filter(account__customer_id=customer_id).exists()

    def cases_reopen_unfixed(self, *, actor: Actor) -> int:
        return cases_reopen_unfixed(actor=actor)

    def cases_of_account(self, user: Any, account_id: int) -> list[AccountCase]:
        return [
            AccountCase(
                pk=case.pk,
                url=case.get_absolute_url(),
                cause=str(case.get_cause_display()),
                department=str(case.department),
                status=case.status,
                status_label=str(case.get_status_display()),
                is_open=case.is_open,
                assignee=case.assignee,
                opened_at=case.opened_at,
                resolved_at=case.resolved_at,
            )
            for case in account_cases(user, account_id)
        ]
