"""The round-the-clock monitor: accounts past their tier's activation window go to the empty-card state.

It diagnoses why each one is stuck — a command core banking refused last is a system fault
(``system_config``), anything else means the customer has not finished their steps
(``customer_incomplete``) — and the account's transition opens the right case. An account
with a command still on its way to core banking is not stuck on the customer's side: the
outbox's sweeper flags it if core does not answer. The monitor also flags approved lines
whose card was not issued within ``APPROVED_NOT_ISSUED_HOURS`` (a case for credit), and has
casework reopen the cases resolved as fixed while their account is (again) empty.

Work is done in bounded batches; each batch claims its rows with ``SKIP LOCKED`` so two scans
running at once share the work instead of doing it twice, and every transition re-checks the
state under the row lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import hooks
from accounts.hooks import NOT_ISSUED
from accounts.models import Channel, CoreCommand, LoanAccount, State
from accounts.services import AccountActionError, account_transition
from portal.actors import Actor

MONITOR = Actor.system("activation-monitor", Channel.JOB)
FLAG_LIMIT = 1000
FLAG_CHUNK = 200  # accounts per transaction when flagging


@dataclass
class ScanSummary:
    examined: int = 0
    stalled: int = 0
    failed: int = 0
    skipped: int = 0
    not_issued: int = 0
    reopened: int = 0

    @property
    def changed(self) -> int:
        return self.stalled + self.failed

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "changed": self.changed}


def _claim(
    now: datetime, after: tuple[datetime, int] | None, batch_size: int
) -> list[tuple[int, datetime, str | None, str]]:
    """Lock the next batch of overdue accounts (skipping rows another scan holds).

    By the end of their window, from the ``account_waiting`` index: a scan reads only the
    accounts past their window, however many accounts there are, and never the customer.
    """
    last_command = CoreCommand.objects.filter(
        account=OuterRef("pk"), kind__in=(CoreCommand.Kind.ISSUE, CoreCommand.Kind.ACTIVATE)
    ).order_by("-created_at", "-id")
    in_flight = CoreCommand.objects.filter(account=OuterRef("pk"), status=CoreCommand.Status.PENDING)
    rows = LoanAccount.objects.filter(state__in=(State.ISSUED, State.VERIFYING), activation_due_at__lt=now).exclude(
        Exists(in_flight)
    )
    if after is not None:
        due, pk = after
        rows = rows.filter(Q(activation_due_at__gt=due) | Q(activation_due_at=due, pk__gt=pk))
    rows = rows.annotate(
        last_result=Subquery(last_command.values("status")[:1]),
        last_code=Subquery(last_command.values("last_error_code")[:1]),
    ).order_by("activation_due_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return [
        (pk, cast(datetime, due), result, code or "")  # due: the filter asks for activation_due_at
        for pk, due, result, code in rows.values_list("pk", "activation_due_at", "last_result", "last_code")[
            :batch_size
        ]
    ]


def monitor_scan(*, now: datetime | None = None, batch_size: int = 500) -> ScanSummary:
    """One pass over every account that may have outstayed its activation window."""
    now = now or timezone.now()
    summary = ScanSummary()
    after: tuple[datetime, int] | None = None
    while True:
        with transaction.atomic():
            batch = _claim(now, after, batch_size)
            if not batch:
                break
            for pk, _due, last_result, last_code in batch:
                summary.examined += 1
                failed = last_result == CoreCommand.Status.REFUSED
                try:
                    with transaction.atomic():
                        if failed:
                            account_transition(
                                account_id=pk,
                                transition_name="fail_activation",
                                actor=MONITOR,
                                reason=f"Activation window passed; the last attempt failed ({last_code}).",
                                error_code=last_code,
                            )
                            summary.failed += 1
                        else:
                            account_transition(
                                account_id=pk,
                                transition_name="mark_stalled",
                                actor=MONITOR,
                                reason="Activation window passed with customer steps still missing.",
                            )
                            summary.stalled += 1
                except AccountActionError:
                    summary.skipped += 1  # changed meanwhile (another scan, a person, a webhook)
            after = (batch[-1][1], batch[-1][0])
    summary.not_issued = flag_not_issued(now=now)
    summary.reopened = hooks.cases().cases_reopen_unfixed(actor=MONITOR)
    return summary


def flag_not_issued(*, now: datetime | None = None) -> int:
    """Approved lines still without a card after ``APPROVED_NOT_ISSUED_HOURS``: a case for credit, once."""
    now = now or timezone.now()
    hours = settings.APPROVED_NOT_ISSUED_HOURS
    ids = list(
        LoanAccount.objects.filter(state=State.APPROVED, created_at__lt=now - timedelta(hours=hours))
        .exclude(pk__in=hooks.cases().accounts_with_case(NOT_ISSUED))
        .order_by("created_at")
        .values_list("pk", flat=True)[:FLAG_LIMIT]
    )
    note = _("Approved more than %(hours)d hours ago, and the card is still not issued.") % {"hours": hours}
    flagged = 0
    for start in range(0, len(ids), FLAG_CHUNK):
        with transaction.atomic():
            # Locked, then checked again: issued meanwhile, or flagged by a concurrent scan, they are left alone.
            accounts = list(
                LoanAccount.objects.select_for_update(of=("self",))
                .select_related("customer")
                .filter(pk__in=ids[start : start + FLAG_CHUNK], state=State.APPROVED)
                .exclude(pk__in=hooks.cases().accounts_with_case(NOT_ISSUED))
                .order_by("pk")
            )
            hooks.cases().cases_open_new(accounts=accounts, cause=NOT_ISSUED, actor=MONITOR, note=note)
            flagged += len(accounts)
    return flagged
