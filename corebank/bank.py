"""Core banking's rules: issuing cards, moving them between states, limits, and the events they cause.

Every portal command runs through :meth:`CoreBank.command`, which owns idempotency: in one write
transaction it looks the key up (replay, ``IDEMPOTENCY_KEY_REUSED`` or ``IDEMPOTENCY_KEY_IN_USE``),
or applies the command, writes its events to the outbox and stores the answer under the key. A
refusal decided by the rules (unknown card, invalid transition, limit above the credit limit, a
channel without the product) is an answer too: it is stored, so a retry gets the same refusal
and causes nothing a second time.

Changes made "inside core" (``/sim``: an approved loan, the fraud team freezing a card, a
customer finishing a verification step in mobile banking) go through the same storage and the
same outbox, without an idempotency key.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from corebank.faults import Faults
from corebank.store import Card, Store, card_json, now_iso

UNACTIVATED, ACTIVE, SUSPENDED, TERMINATED = "UNACTIVATED", "ACTIVE", "SUSPENDED", "TERMINATED"
CFG_CHANNEL_MISSING = "CFG-CHANNEL-MISSING"
SIM_REASON_CODES = {ACTIVE: "00", SUSPENDED: "06", TERMINATED: "17"}

Event = dict[str, Any]
Action = Callable[[sqlite3.Connection, str], tuple[int, dict[str, Any], list[Event]]]


def error_body(code: str, message: str) -> dict[str, str]:
    """The contract's ``Error``."""
    return {"error_code": code[:60], "error_message": message[:1000]}


def error_text(code: str, message: str) -> str:
    return json.dumps(error_body(code, message), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """What to send back: status, JSON text, whether it is a replay and whether this request applied it."""

    status: int
    body: str
    replayed: bool = False
    applied: bool = False


@dataclass
class Refusal(Exception):
    """A refusal decided by core's rules; stored under the idempotency key like any answer."""

    status: int
    code: str
    message: str
    events: list[Event] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class CoreBank:
    """The card ledger and its rules, over a :class:`Store`; ``notify`` wakes the webhook dispatcher."""

    def __init__(self, store: Store, faults: Faults, notify: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.faults = faults
        self.notify = notify

    # --- idempotent commands --------------------------------------------------------------------

    def command(self, key: str, fingerprint: str, method: str, path: str, action: Action) -> Answer:
        """Apply ``action`` at most once for ``key``; replay its stored answer afterwards."""
        with self.store.transaction() as conn:
            record = self.store.idempotency(key, conn)
            if record is not None:
                if record.in_progress or record.status_code is None or record.response_body is None:
                    return Answer(409, error_text("IDEMPOTENCY_KEY_IN_USE", f"key {key} is being applied; retry later"))
                if record.fingerprint != fingerprint:
                    return Answer(
                        422,
                        error_text(
                            "IDEMPOTENCY_KEY_REUSED", f"key {key} was used for a different request; choose a new key"
                        ),
                    )
                self.store.count_replay(conn, key)
                return Answer(record.status_code, record.response_body, replayed=True)
            now = now_iso()
            try:
                status, body, events = action(conn, now)
            except Refusal as refusal:
                status, body, events = refusal.status, error_body(refusal.code, refusal.message), refusal.events
            text = json.dumps(body, ensure_ascii=False)
            for event in events:
                self.store.insert_event(conn, event)
            self.store.store_answer(conn, key, fingerprint, method, path, status, text, now)
        if events:
            self.notify()
        return Answer(status, text, applied=True)

    def issue_card(self, body: dict[str, Any], key: str) -> Action:
        config_channels = self.faults.settings.config_fault_channels

        def apply(conn: sqlite3.Connection, now: str) -> tuple[int, dict[str, Any], list[Event]]:
            token, account = body["token"], body["account_number"]
            product, channel = body["product"], body["channel"]
            credit, usable = body["credit_limit"], body["usable_limit"]
            if Decimal(usable) > Decimal(credit):
                raise Refusal(422, "LIMIT_ABOVE_CREDIT_LIMIT", f"usable_limit {usable} is above credit_limit {credit}")
            existing = self.store.card(token, conn)
            if existing is not None:
                if existing.account_number == account:
                    return 200, existing.as_json(), []
                raise Refusal(409, "CARD_TOKEN_TAKEN", f"card token {token} belongs to another account")
            other = self.store.card_for_account(conn, account)
            if other is not None:
                raise Refusal(409, "CARD_TOKEN_TAKEN", f"account {account} already has the card {other.token}")
            if channel in config_channels:
                raise Refusal(422, CFG_CHANNEL_MISSING, f"product {product} is not configured on channel {channel}")
            self.store.ensure_line(conn, account, product, channel, credit, now)
            card = Card(token, account, UNACTIVATED, product, channel, credit, usable, now, now, None, False, None, 0)
            card.seq = self.store.next_seq(conn)
            self.store.insert_card(conn, card)
            event = self.event("card.issued", account, {"card_token": token, "state": UNACTIVATED}, key, now)
            return 201, card.as_json(), [event]

        return apply

    def transition(self, body: dict[str, Any], key: str) -> Action:
        config_channels = self.faults.settings.config_fault_channels

        def apply(conn: sqlite3.Connection, now: str) -> tuple[int, dict[str, Any], list[Event]]:
            token, target, reason = body["card_token"], body["state"], body["reason_code"]
            card = self._card_or_refuse(conn, token)
            previous = card.state
            answer = {"card_token": token, "state": previous, "previous_state": previous, "reason_code": reason}
            answer["created_time"] = now
            if target == previous:
                return 201, answer, []
            if previous == TERMINATED:
                raise Refusal(409, "INVALID_TRANSITION", f"card {token} is TERMINATED; it cannot become {target}")
            if target == ACTIVE and previous == UNACTIVATED:
                if card.channel in config_channels:
                    message = f"product {card.product} is not configured on channel {card.channel}"
                    data = {"card_token": token, "error_code": CFG_CHANNEL_MISSING, "error_message": message[:255]}
                    failed = self.event("card.activation_failed", card.account_number, data, key, now)
                    raise Refusal(422, CFG_CHANNEL_MISSING, message, [failed])
                kind = "card.activated"
                card.state, card.activated_time, card.ever_activated = ACTIVE, now, True
            elif target == ACTIVE:  # SUSPENDED -> the state it had when it was suspended
                kind = "card.reinstated"
                card.state = self._state_before_suspension(card)
                card.state_before_suspension = None
            elif target == SUSPENDED:
                kind = "card.suspended"
                card.state_before_suspension, card.state = previous, SUSPENDED
            else:
                kind = "card.terminated"
                card.state, card.state_before_suspension = TERMINATED, None
            self._save(conn, card, now)
            answer["state"] = card.state
            data = {"card_token": token, "state": card.state, "reason_code": reason}
            return 201, answer, [self.event(kind, card.account_number, data, key, now)]

        return apply

    def set_limit(self, token: str, body: dict[str, Any], key: str) -> Action:
        def apply(conn: sqlite3.Connection, now: str) -> tuple[int, dict[str, Any], list[Event]]:
            usable = body["usable_limit"]
            card = self._card_or_refuse(conn, token)
            if card.state == TERMINATED:
                raise Refusal(409, "INVALID_TRANSITION", f"card {token} is TERMINATED; its limit cannot change")
            if Decimal(usable) > Decimal(card.credit_limit):
                raise Refusal(
                    422, "LIMIT_ABOVE_CREDIT_LIMIT", f"usable_limit {usable} is above credit_limit {card.credit_limit}"
                )
            if Decimal(usable) == Decimal(card.usable_limit):
                return 200, card.as_json(), []
            card.usable_limit = usable
            self._save(conn, card, now)
            data = {"card_token": token, "usable_limit": usable, "credit_limit": card.credit_limit}
            return 200, card.as_json(), [self.event("limit.changed", card.account_number, data, key, now)]

        return apply

    # --- reads ----------------------------------------------------------------------------------

    def card(self, token: str) -> Card | None:
        return self.store.card(token)

    def changed_cards(self, cursor: str, count: int) -> dict[str, Any]:
        """The contract's ``CardPage``: keyset over ``seq``; the cursor stays put on an empty page."""
        rows, is_more = self.store.changed_cards(int(cursor), count)
        return {
            "count": len(rows),
            "data": [card_json(row) for row in rows],
            "next_cursor": str(rows[-1][12]) if rows else cursor,
            "is_more": is_more,
        }

    # --- changes decided inside core (/sim) -----------------------------------------------------

    def approve_line(self, account_number: str, customer: dict[str, Any], line: dict[str, Any]) -> Event:
        now = now_iso()
        event = self.event("loan.approved", account_number, {"customer": customer, "line": line}, None, now)
        with self.store.transaction() as conn:
            self.store.upsert_line(conn, account_number, line, customer, now)
            self.store.insert_event(conn, event)
        self.notify()
        return event

    def force_state(self, token: str, state: str, reason_code: str | None) -> tuple[Card, Event | None] | None:
        """Put a card in ``state`` whatever the transition rules say (core's own staff deciding)."""
        with self.store.transaction() as conn:
            card = self.store.card(token, conn)
            if card is None:
                return None
            previous = card.state
            if previous == state:
                return card, None
            now = now_iso()
            if state == ACTIVE:
                kind = "card.reinstated" if previous == SUSPENDED else "card.activated"
                default_reason = "07" if previous == SUSPENDED else "00"
                card.activated_time = card.activated_time or now
                card.ever_activated = True
                card.state_before_suspension = None
            elif state == SUSPENDED:
                kind, default_reason = "card.suspended", "06"
                card.state_before_suspension = previous if previous in (UNACTIVATED, ACTIVE) else None
            elif state == TERMINATED:
                kind, default_reason = "card.terminated", "17"
                card.state_before_suspension = None
            else:  # UNACTIVATED: no event (how tests make core and portal disagree)
                kind, default_reason = "", ""
                card.state_before_suspension = None
            card.state = state
            self._save(conn, card, now)
            event = None
            if kind:
                data = {"card_token": token, "state": state, "reason_code": reason_code or default_reason}
                event = self.event(kind, card.account_number, data, None, now)
                self.store.insert_event(conn, event)
        if event:
            self.notify()
        return card, event

    def complete_step(self, account_number: str, step: str) -> Event:
        now = now_iso()
        event = self.event("verification.step_completed", account_number, {"step": step}, None, now)
        with self.store.transaction() as conn:
            self.store.insert_event(conn, event)
        self.notify()
        return event

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def event(kind: str, account_number: str, data: dict[str, Any], key: str | None, now: str) -> Event:
        """One ``CoreEvent``; ``idempotency_key`` only when a portal command caused it."""
        event: Event = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "type": kind,
            "occurred_at": now,
            "account_number": account_number,
        }
        if key:
            event["idempotency_key"] = key
        event["data"] = data
        return event

    def _card_or_refuse(self, conn: sqlite3.Connection, token: str) -> Card:
        card = self.store.card(token, conn)
        if card is None:
            raise Refusal(404, "CARD_NOT_FOUND", f"no card with the token {token}")
        return card

    def _save(self, conn: sqlite3.Connection, card: Card, now: str) -> None:
        card.modified_time = now
        card.seq = self.store.next_seq(conn)
        self.store.save_card(conn, card)

    @staticmethod
    def _state_before_suspension(card: Card) -> str:
        before = card.state_before_suspension
        if before is not None and before in (UNACTIVATED, ACTIVE):
            return before
        # Loaded or forced into SUSPENDED without a record: a card never activated goes back to UNACTIVATED.
        return ACTIVE if card.ever_activated else UNACTIVATED
