"""How cases end, checked again later: a case resolved as fixed while its account is still (or again)
in the empty-card state is reopened by the monitor (through ``accounts.hooks``), saying why.

Resolving itself (fixed, or won't fix with a reason) is ``casework.services.case_transition``.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from accounts.models import State
from casework.models import EMPTY_CAUSES, Case, Resolution, Status
from casework.services import cases_move_bulk
from portal.actors import Actor

REOPEN_LIMIT = 1000  # resolved cases reopened per monitor run; the next run takes the rest


def _reopened_because(case: Case) -> str:
    return _(
        "Reopened: the account is still in the empty-card state (%(cause)s), so the case is not fixed. "
        "Work it until the account is active, or resolve it as “won't fix” and say why."
    ) % {"cause": case.account.get_empty_cause_display()}


def cases_reopen_unfixed(*, actor: Actor) -> int:
    """Reopen the cases resolved as fixed whose account is (again) in the empty-card state; how many.

    Each with a timeline entry saying why. A case resolved as "won't fix" stays resolved, and so
    does one whose account has another open case for the same cause (the database allows only
    one). Reopening moves the case out of "resolved", so a second run finds nothing more to do:
    once per case and resolution. The cases and their accounts are locked together, skipping rows
    another transaction holds (an account activating now resolves its cases itself); a first
    read without locks keeps the usual run, with nothing to reopen, to one query. A constant
    number of queries however many cases.
    """
    unfixed = (
        Case.objects.filter(status=Status.RESOLVED, cause__in=EMPTY_CAUSES, account__state=State.EMPTY)
        .exclude(resolution=Resolution.WONT_FIX)
        .exclude(Exists(Case.objects.open().filter(account=OuterRef("account"), cause=OuterRef("cause"))))
    )
    ids = list(unfixed.order_by("pk").values_list("pk", flat=True)[:REOPEN_LIMIT])
    if not ids:
        return 0
    with transaction.atomic():
        cases = list(
            unfixed.filter(pk__in=ids)
            .select_related("account")
            .select_for_update(skip_locked=True, of=("self", "account"))
            .order_by("pk")
        )
        cases_move_bulk(cases, Case.reopen, actor=actor, text=_reopened_because)
    return len(cases)
