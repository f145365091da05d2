"""Events from core banking (``POST /api/core/events``): checked against the contract, applied once.

Each event is checked against its schema in ``docs/core-banking.openapi.yaml``, then stored
(once per ``event_id``: a replay is refused) and applied in one transaction with the
account's row lock:

* the answer to one of our commands (``idempotency_key``, or a command of the matching kind on
  its way) completes that command exactly as core's HTTP answer would;
* otherwise what core decided is applied where the desk can follow it (a card core suspended
  puts the line on hold; one it terminated closes the account; a lower limit is taken over),
  audited with the channel "core banking webhook";
* what the desk cannot follow opens a tech case instead (``case_opened``).

``loan.approved`` creates (or updates) the customer and the account in ``approved``; the risk
policy then issues the card at once (low and medium risk) or leaves it to a credit officer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts import hooks
from accounts.contract import event_schema_name, event_types, first_error, schema_validator
from accounts.delivery import command_refused, commands_done
from accounts.gateway import CoreAnswer
from accounts.hooks import CORE_SYNC
from accounts.models import CardState, Channel, CoreCommand, CoreEvent, Customer, EmptyCause, LoanAccount, State
from accounts.policy import TIERS
from accounts.services import (
    AccountActionError,
    account_limit_record,
    account_step_record,
    account_transition,
)
from portal.actors import Actor
from portal.text import control_character

MAX_BODY = 1_048_576
CORE_WEBHOOK = Actor.system("core banking", Channel.WEBHOOK)
RISK_POLICY = Actor.system("risk policy", Channel.WEBHOOK)
APPLIED, NO_CHANGE, CASE_OPENED = "applied", "no_change", "case_opened"


class EventError(Exception):
    """A refused event: the HTTP status, the contract's error code and a sentence for core's team."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "error_message": self.message}


@dataclass(frozen=True)
class Receipt:
    event_id: str
    status: str
    outcome: str

    def body(self) -> dict[str, str]:
        return {"event_id": self.event_id, "status": self.status, "outcome": self.outcome[:300]}


def _control_characters(value: Any, path: str = "") -> str | None:
    """What is wrong with the first field (named by its path) holding a control character, e.g. a NUL."""
    if isinstance(value, str):
        character = control_character(value)
        if character is None:
            return None
        where, what = path or "the body", f"{character[1]} at position {character[0]}"
        return f"{where}: control characters (such as NUL) are not allowed ({what})"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _control_characters(str(key), path) or _control_characters(item, f"{path}/{key}".lstrip("/"))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _control_characters(item, f"{path}/{index}".lstrip("/"))
            if found:
                return found
    return None


def event_check(payload: Any) -> dict[str, Any]:
    """The event if it follows the contract; else ``EventError`` (400) naming the field."""
    if not isinstance(payload, dict):
        raise EventError(400, "INVALID_REQUEST", "The body must be a JSON object (one event).")
    where = _control_characters(payload)
    if where:
        raise EventError(400, "INVALID_REQUEST", f"{where}.")
    event_type = payload.get("type")
    schema = event_schema_name(event_type) if isinstance(event_type, str) else None
    if schema is None:
        raise EventError(400, "UNKNOWN_TYPE", f"type must be one of {', '.join(event_types())}.")
    problem = first_error(schema_validator(schema), payload)
    if problem:
        raise EventError(400, "INVALID_REQUEST", problem)
    return payload


# --- applying ------------------------------------------------------------------------------------


def _pending_command(account: LoanAccount, kind: str, key: str | None) -> CoreCommand | None:
    commands = CoreCommand.objects.select_for_update(of=("self",)).select_related("tranche")
    if key:
        by_key = commands.filter(idempotency_key=key, account=account).first()
        if by_key is not None:
            return by_key if by_key.is_pending else None
    return commands.filter(account=account, kind=kind, status=CoreCommand.Status.PENDING).order_by("pk").first()


def _answer_command(command: CoreCommand, account: LoanAccount, data: dict[str, Any], event_id: str) -> Receipt:
    commands_done([(command, account, CoreAnswer(0, dict(data)))], via=f"event {event_id}")
    return Receipt(event_id, APPLIED, f"confirmed command #{command.pk} ({command.kind})")


def _follow(account: LoanAccount, transition: str, event_id: str, reason: str, **kwargs: Any) -> Receipt:
    account_transition(
        account_id=account.pk,
        transition_name=transition,
        actor=CORE_WEBHOOK,
        reason=reason,
        core_confirmation=f"event {event_id}",
        **kwargs,
    )
    return Receipt(event_id, APPLIED, f"{transition} applied")


def _mismatch(account: LoanAccount, event_id: str, note: str) -> Receipt:
    case_id = hooks.cases().case_open(account=account, cause=CORE_SYNC, actor=CORE_WEBHOOK, note=note)
    return Receipt(event_id, CASE_OPENED, f"case #{case_id}: {note}")


def _card_state(account: LoanAccount, state: str) -> None:
    if state in CardState.values and account.card_state != state:
        LoanAccount.objects.filter(pk=account.pk).update(card_state=state)
        account.card_state = state


def _card_event(account: LoanAccount, event: dict[str, Any]) -> Receipt:
    event_id, event_type, data = event["event_id"], event["type"], event["data"]
    key = event.get("idempotency_key")
    kind = {
        "card.issued": CoreCommand.Kind.ISSUE,
        "card.activated": CoreCommand.Kind.ACTIVATE,
        "card.activation_failed": CoreCommand.Kind.ACTIVATE,
        "card.suspended": CoreCommand.Kind.SUSPEND,
        "card.reinstated": CoreCommand.Kind.REINSTATE,
        "card.terminated": CoreCommand.Kind.TERMINATE,
        "limit.changed": CoreCommand.Kind.SET_LIMIT,
    }[event_type]
    command = _pending_command(account, kind, key)
    if command is not None:
        if event_type == "card.activation_failed":
            command_refused(command, account, data["error_code"], data.get("error_message", ""), status=None,
                            via=f"event {event_id}")  # fmt: skip
            return Receipt(event_id, APPLIED, f"command #{command.pk} refused: {data['error_code']}")
        return _answer_command(command, account, data, event_id)
    reason = _("Core banking reported %(type)s.") % {"type": event_type}
    state = account.state
    if event_type == "card.issued":
        _card_state(account, CardState.UNACTIVATED)
        if not account.card_token:
            LoanAccount.objects.filter(pk=account.pk).update(card_token=data["card_token"])
            account.card_token = data["card_token"]
        if state == State.APPROVED:
            return _follow(account, "issue", event_id, reason)
        return Receipt(event_id, NO_CHANGE, "the card was already issued here")
    if event_type == "card.activated":
        _card_state(account, CardState.ACTIVE)
        if state == State.ACTIVE:
            return Receipt(event_id, NO_CHANGE, "already active")
        try:
            return _follow(account, "activate", event_id, reason)
        except AccountActionError as exc:
            return _mismatch(
                account, event_id, _("Core banking activated the card, but here: %(why)s") % {"why": exc.message}
            )
    if event_type == "card.activation_failed":
        code = data["error_code"]
        if state in (State.ISSUED, State.VERIFYING):
            note = _("Core banking reported a failed activation: %(code)s %(message)s") % {
                "code": code,
                "message": data.get("error_message", ""),
            }
            return _follow(account, "fail_activation", event_id, note, error_code=code, case_note=note)
        if state == State.EMPTY and account.empty_cause == EmptyCause.SYSTEM_CONFIG:
            LoanAccount.objects.filter(pk=account.pk).update(last_error_code=code)
            return Receipt(event_id, NO_CHANGE, "already empty for a system fault; error code noted")
        return _mismatch(
            account,
            event_id,
            _("Core banking reported a failed activation (%(code)s) while the account is %(state)s.")
            % {"code": code, "state": account.get_state_display()},
        )
    if event_type == "card.suspended":
        _card_state(account, CardState.SUSPENDED)
        if account.on_hold:
            return Receipt(event_id, NO_CHANGE, "the line is on hold here too")
        if state in (State.CLOSED, State.APPROVED):
            return _mismatch(
                account,
                event_id,
                _("Core banking suspended the card of an account that is %(state)s here.")
                % {"state": account.get_state_display()},
            )
        return _follow(
            account, "hold", event_id, _("Core banking suspended the card; the line is held until credit decides.")
        )
    if event_type == "card.reinstated":
        _card_state(account, data.get("state", CardState.ACTIVE))
        if account.on_hold:
            return _mismatch(
                account, event_id, _("Core banking reinstated the card while the line is on risk hold here.")
            )
        return Receipt(event_id, NO_CHANGE, "the line is not on hold here")
    if event_type == "card.terminated":
        _card_state(account, CardState.TERMINATED)
        if state == State.CLOSED:
            return Receipt(event_id, NO_CHANGE, "already closed")
        return _follow(account, "close", event_id, _("Core banking terminated the card."))
    # limit.changed
    usable = Decimal(data["usable_limit"])
    if usable == account.released_limit:
        return Receipt(event_id, NO_CHANGE, "the same limit is released here")
    if usable < account.released_limit:
        account_limit_record(
            account_id=account.pk, usable_limit=usable, actor=CORE_WEBHOOK, reason=reason,
            core_confirmation=f"event {event_id}",
        )  # fmt: skip
        return Receipt(event_id, APPLIED, f"usable limit lowered to {usable}")
    return _mismatch(
        account,
        event_id,
        _("Core banking raised the usable limit to %(core)s; the desk has released %(ours)s.")
        % {"core": usable, "ours": account.released_limit},
    )


def _loan_approved(event: dict[str, Any]) -> tuple[LoanAccount, str]:
    """Create or update the customer and the line; what the risk policy does next."""
    data, number = event["data"], event["account_number"]
    customer_data, line = data["customer"], data["line"]
    values = {
        "name": customer_data["name"],
        "contact_name": customer_data["contact_name"],
        "contact_mobile": customer_data["contact_mobile"],
        "email": customer_data.get("email", ""),
        "risk_tier": customer_data["risk_tier"],
        "credit_score": customer_data["credit_score"],
    }
    customer = Customer.objects.select_for_update().filter(credit_code=customer_data["credit_code"]).first()
    if customer is None:
        customer = Customer(credit_code=customer_data["credit_code"], **values)
    else:
        for name, value in values.items():
            setattr(customer, name, value)
    limit = Decimal(line["approved_limit"])
    account = LoanAccount.objects.select_for_update(of=("self",)).filter(number=number).first()
    try:
        customer.full_clean()
        customer.save()
        if account is None:
            account = LoanAccount(number=number, customer=customer, product=line["product"], channel=line["channel"],
                                  approved_limit=limit)  # fmt: skip
            account.full_clean(exclude=["state"])
            account.save()
            created = True
        else:
            if account.customer_id != customer.pk:
                raise EventError(400, "INVALID_REQUEST", f"account_number: {number} belongs to another customer.")
            if limit < account.released_limit:
                raise EventError(
                    400,
                    "INVALID_REQUEST",
                    f"data/line/approved_limit: below the {account.released_limit} already released.",
                )
            account.product, account.channel, account.approved_limit = line["product"], line["channel"], limit
            account.full_clean(exclude=["state", "customer", "credit_reviewed_by"])
            account.save()
            created = False
    except ValidationError as exc:
        fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
        raise EventError(400, "INVALID_REQUEST", fields) from None
    if not created:
        return account, "account updated"
    if TIERS[customer.risk_tier].auto_issue:
        account_transition(
            account_id=account.pk,
            transition_name="issue",
            actor=RISK_POLICY,
            reason=_("Approved line of a %(tier)s-risk customer: the card is issued at once.")
            % {"tier": customer.get_risk_tier_display()},
        )
        return account, "account created; card issue sent to core banking"
    return account, "account created; a credit officer issues the card (high risk)"


@transaction.atomic
def core_event_apply(payload: Any) -> Receipt:
    """Apply one event from core banking, once per event id; store it with its outcome."""
    event = event_check(payload)
    event_id = event["event_id"]
    if CoreEvent.objects.filter(event_id=event_id).exists():
        raise EventError(409, "DUPLICATE_EVENT", f"Event {event_id} was already received; it is not applied twice.")
    if event["type"] == "loan.approved":
        account, outcome = _loan_approved(event)
        receipt = Receipt(event_id, APPLIED, outcome)
    else:
        found = (
            LoanAccount.objects.select_for_update(of=("self",))
            .select_related("customer")
            .filter(number=event["account_number"])
            .first()
        )
        if found is None:
            raise EventError(404, "UNKNOWN_ACCOUNT", f"No account {event['account_number']}.")
        account = found
        if event["type"] == "verification.step_completed":
            try:
                account_step_record(account_id=account.pk, step=event["data"]["step"], actor=CORE_WEBHOOK,
                                    reason=_("Core banking reported the step done."))  # fmt: skip
                receipt = Receipt(event_id, APPLIED, "step recorded")
            except AccountActionError as exc:
                receipt = Receipt(event_id, NO_CHANGE, exc.message)
        else:
            receipt = _card_event(account, event)
    try:
        with transaction.atomic():
            CoreEvent.objects.create(
                event_id=event_id, event_type=event["type"], account=account, payload=event,
                outcome=f"{receipt.status}: {receipt.outcome}"[:300],
            )  # fmt: skip
    except IntegrityError:  # the same event delivered twice at once: the other delivery applies it
        raise EventError(
            409, "DUPLICATE_EVENT", f"Event {event_id} was already received; it is not applied twice."
        ) from None
    return receipt
