"""Reconciliation, the monitor's second half: core banking's card statuses read back and compared with ours.

Every five minutes a run reads the cards core banking changed since the last run's cursor
(``GET /v1/cards?changed_since=``); every night a full sweep reads them all. Each card is
compared with its account (``classify``); accounts with a command still on its way to core are
skipped (they are in flight, not out of step). What core decided and the desk can follow is
applied, audited with the channel "core banking" (a card core terminated closes the account;
one core suspended puts the line on hold, which routes it to credit; one core issued or
activated moves the account on). What the desk cannot follow (core active while we hold the
line, a card we show as usable that core never activated...) opens a tech case that says so.

Pages are read with no database transaction open; each change is applied in its own short
transaction that re-reads the account under its row lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, F, Lookup, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import hooks
from accounts.delivery import assert_no_transaction
from accounts.gateway import CoreCard, Gateway, GatewayError, get_gateway
from accounts.hooks import CORE_SYNC
from accounts.models import (
    CardState,
    Channel,
    CoreCommand,
    Customer,
    EmptyCause,
    LoanAccount,
    ReconciliationRun,
    State,
)
from accounts.policy import TIERS, Step
from accounts.services import AccountActionError, account_limit_record, account_transition
from portal.actors import Actor
from portal.bulk import bulk_save_fields

log = logging.getLogger(__name__)
PAGE_SIZE = 5000
RECONCILER = Actor.system("core banking (reconciliation)", Channel.CORE)


@dataclass(frozen=True)
class Ours:
    """What the desk holds about one account, as much as the comparison needs."""

    pk: int
    state: str
    empty_cause: str
    card_state: str
    released_limit: Decimal
    steps_done: bool

    @property
    def on_hold(self) -> bool:
        return self.state == State.EMPTY and self.empty_cause == EmptyCause.RISK_HOLD


@dataclass(frozen=True)
class Verdict:
    """``ok``; ``apply`` a transition (or ``limit``) core decided; or open a ``case`` saying why."""

    action: str
    transition: str = ""
    note: str = ""


OK = Verdict("ok")


def _case(note: str) -> Verdict:
    return Verdict("case", note=note)


def classify(ours: Ours, card: CoreCard) -> Verdict:
    """Compare one account with its card in core banking (no command on its way)."""
    state = ours.state
    if card.state == CardState.TERMINATED:
        return OK if state == State.CLOSED else Verdict("apply", "close")
    if state == State.CLOSED:
        return _case(
            _("The account is closed here, but core banking still holds the card as %(state)s.") % {"state": card.state}
        )
    if state == State.APPROVED and card.state != CardState.UNACTIVATED:
        return _case(
            _("Core banking holds the card as %(state)s, but it was never issued here.") % {"state": card.state}
        )
    if card.state == CardState.SUSPENDED:
        return OK if ours.on_hold else Verdict("apply", "hold")
    if card.state == CardState.ACTIVE:
        if ours.on_hold:
            return _case(_("Core banking holds the card as ACTIVE while the line is on risk hold here."))
        if state == State.ACTIVE:
            if card.usable_limit < ours.released_limit:
                return Verdict("apply", "limit")
            if card.usable_limit > ours.released_limit:
                return _case(
                    _("Core banking lets the customer use %(core)s; the desk has released only %(ours)s.")
                    % {"core": card.usable_limit, "ours": ours.released_limit}
                )
            return OK
        if ours.steps_done and (state != State.EMPTY or ours.empty_cause == EmptyCause.SYSTEM_CONFIG):
            return Verdict("apply", "activate")
        return _case(
            _("Core banking activated the card while the account is %(state)s here, with verification steps missing.")
            % {"state": state}
        )
    # UNACTIVATED
    if state == State.APPROVED:
        return Verdict("apply", "issue")
    if state == State.ACTIVE:
        return _case(_("The desk shows the line as usable, but core banking never activated the card."))
    if ours.on_hold:
        return _case(_("The line is on risk hold here, but core banking holds the card as UNACTIVATED, not SUSPENDED."))
    return OK


def _steps_done(tier: str, sms: object, password: object, review: object) -> bool:
    done = {Step.SMS_CODE: sms, Step.PASSWORD: password, Step.CREDIT_REVIEW: review}
    return all(done[step] for step in TIERS[tier].required_steps)


class _AnyOf(Lookup):
    """``column = ANY(%s)`` with the values as one array parameter (PostgreSQL).

    The same rows as ``__in``; but ``__in`` writes one placeholder per value, and preparing and
    splitting a query of 5,000 placeholders costs Django and psycopg about 40 ms a page.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


def _ours(numbers: Sequence[str]) -> dict[str, tuple[Ours, bool]]:
    """Our side of a page: each account by number, and whether a command of it is on its way."""
    in_flight = CoreCommand.objects.filter(account=OuterRef("pk"), status=CoreCommand.Status.PENDING)
    # The customer's tier is looked up by primary key for each account found: as a join, the
    # planner hashes every customer for each page (0.2 s a page at a million accounts).
    tier = Customer.objects.filter(pk=OuterRef("customer_id")).order_by().values("risk_tier")[:1]
    rows = (
        LoanAccount.objects.filter(
            _AnyOf(F("number"), numbers) if connection.vendor == "postgresql" else Q(number__in=numbers)
        )
        .annotate(in_flight=Exists(in_flight), risk_tier=Subquery(tier))
        .order_by()  # a dictionary by number: the model's ordering would only add a sort
        .values_list(
            "pk", "number", "state", "empty_cause", "card_state", "released_limit", "risk_tier",
            "sms_verified_at", "password_set_at", "credit_reviewed_at", "in_flight",
        )
    )  # fmt: skip
    return {
        number: (Ours(pk, state, cause, card_state, released, _steps_done(tier, sms, password, review)), flying)
        for pk, number, state, cause, card_state, released, tier, sms, password, review, flying in rows
    }


def _apply(run: ReconciliationRun, account_id: int, card: CoreCard, verdict: Verdict) -> bool:
    """Apply what core decided, or open the case, after re-checking under the account's row lock."""
    confirmation = f"reconciliation {run.pk}"
    with transaction.atomic():
        account = LoanAccount.objects.select_for_update(of=("self",)).select_related("customer").get(pk=account_id)
        if CoreCommand.objects.filter(account=account, status=CoreCommand.Status.PENDING).exists():
            return False  # a command went out meanwhile: in flight, not out of step
        now = Ours(
            account.pk, account.state, account.empty_cause, account.card_state, account.released_limit,
            not account.steps_missing(),
        )  # fmt: skip
        if classify(now, card) != verdict:
            return False  # changed meanwhile; the next run looks again
        if verdict.action == "case":
            hooks.cases().case_open(account=account, cause=CORE_SYNC, actor=RECONCILER, note=verdict.note)
            return True
        reason = _("Reconciliation: core banking holds the card as %(state)s.") % {"state": card.state}
        if not account.card_token:
            LoanAccount.objects.filter(pk=account.pk).update(card_token=card.token)
        if verdict.transition == "limit":
            account_limit_record(
                account_id=account.pk, usable_limit=card.usable_limit, actor=RECONCILER, reason=reason,
                core_confirmation=confirmation,
            )  # fmt: skip
            return True
        try:
            account_transition(
                account_id=account.pk,
                transition_name=verdict.transition,
                actor=RECONCILER,
                reason=reason,
                core_confirmation=confirmation,
            )
        except AccountActionError as exc:
            hooks.cases().case_open(
                account=account, cause=CORE_SYNC, actor=RECONCILER,
                note=_("Reconciliation could not follow core banking (%(state)s): %(why)s")
                % {"state": card.state, "why": exc.message},
            )  # fmt: skip
        return True


def _compare_page(run: ReconciliationRun, cards: Sequence[CoreCard]) -> None:
    ours = _ours([card.account_number for card in cards])
    mirror: list[LoanAccount] = []
    now = timezone.now()
    for card in cards:
        found = ours.get(card.account_number)
        if found is None:
            run.unknown += 1
            continue
        account, in_flight = found
        if in_flight:
            run.in_flight += 1
            continue
        verdict = classify(account, card)
        if verdict.action != "ok":
            run.mismatches += 1
            if _apply(run, account.pk, card, verdict):
                if verdict.action == "case":
                    run.cased += 1
                else:
                    run.fixed += 1
        if account.card_state != card.state:  # the desk keeps what core reported last
            mirror.append(LoanAccount(pk=account.pk, card_state=card.state, card_state_at=now))
    if mirror:
        with transaction.atomic():
            bulk_save_fields(mirror, ["card_state", "card_state_at"])


def _start_cursor(mode: str) -> str:
    if mode == ReconciliationRun.Mode.FULL:
        return "0"
    last = (
        ReconciliationRun.objects.filter(finished_at__isnull=False)
        .exclude(cursor_to="")
        .order_by("-finished_at", "-pk")
        .values_list("cursor_to", flat=True)
        .first()
    )
    return last or "0"


def reconcile(*, mode: str, page_size: int = PAGE_SIZE, gateway: Gateway | None = None) -> ReconciliationRun:
    """One reconciliation run; its counts and the cursor reached are kept on the run (the jobs page)."""
    gateway = gateway or get_gateway()
    cursor = _start_cursor(mode)
    run = ReconciliationRun.objects.create(mode=mode, cursor_from=cursor)
    try:
        while True:
            assert_no_transaction()
            page = gateway.changed_cards(cursor, page_size)
            run.cards_read += len(page.cards)
            _compare_page(run, page.cards)
            cursor = page.next_cursor
            run.cursor_to = cursor
            run.save()
            if not page.is_more:
                break
    except GatewayError as exc:
        run.error = f"{exc.code}: {exc.message}"[:300]
        log.warning("reconciliation run %s stopped: %s", run.pk, run.error)
    run.finished_at = timezone.now()
    run.save()
    return run
