"""Personal data on a need-to-know basis: masked everywhere, revealed one field at a time with a reason.

A customer's contact mobile, email and unified social credit code are masked on every page, in
the admin and in exports. Staff whose work needs the value (service agents for the customers of
their cases, credit officers and leads for any customer) press *Reveal* and say why; the value
is shown for that page view only, and an access record (who, whose data, which field, why,
when) goes into the audit trail before it is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts import hooks
from accounts.models import Customer, LoanAccount
from portal import audit
from portal.masking import mask_code, mask_email, mask_mobile
from portal.models import SecurityEvent

REVEAL_ANY = "portal.reveal_any_personal_data"
REVEAL_OWN_CASES = "portal.reveal_personal_data"


@dataclass(frozen=True)
class PersonalField:
    name: str  # as the reveal form posts it
    attribute: str  # the customer's field
    label: Promise
    mask: Callable[[str], str]


PERSONAL_FIELDS: dict[str, PersonalField] = {
    field.name: field
    for field in (
        PersonalField("mobile", "contact_mobile", _("contact mobile"), mask_mobile),
        PersonalField("email", "email", _("email"), mask_email),
        PersonalField("credit_code", "credit_code", _("unified social credit code"), mask_code),
    )
}
# The customer's columns an export leaves out for those who may not reveal any customer's data.
PERSONAL_COLUMNS = frozenset(f"customer__{field.attribute}" for field in PERSONAL_FIELDS.values())


def may_reveal_any(user: Any) -> bool:
    """Credit officers, leads and admins: any customer's data (and personal columns in exports)."""
    return bool(user.has_perm(REVEAL_ANY))


def may_reveal(user: Any, customer_id: int) -> bool:
    """Whether ``user`` may reveal this customer's data: any customer's, or their cases' customers'."""
    if may_reveal_any(user):
        return True
    return bool(user.has_perm(REVEAL_OWN_CASES)) and hooks.cases().customer_in_cases_of(user, customer_id)


def masked(customer: Customer, field: str) -> str:
    personal = PERSONAL_FIELDS[field]
    return personal.mask(getattr(customer, personal.attribute) or "")


@transaction.atomic
def personal_data_reveal(*, request: HttpRequest, account: LoanAccount, field: str, reason: str) -> str:
    """The value, once its access record is written (in this transaction: no record, no value)."""
    personal = PERSONAL_FIELDS[field]
    customer = account.customer
    audit.record(
        SecurityEvent.Kind.REVEAL,
        request=request,
        subject_id=customer.pk,
        subject_label=f"{account.number} {customer.name}",
        field=personal.attribute,
        reason=reason,
        details={"account": account.number, "page": request.POST.get("next", "")[:200]},
    )
    return str(getattr(customer, personal.attribute) or "")


def masked_payload(payload: Any) -> Any:
    """A core-banking event as received, its customer's personal fields masked (the admin shows it so)."""
    if not isinstance(payload, dict):
        return payload
    customer = payload.get("data", {}).get("customer") if isinstance(payload.get("data"), dict) else None
    if not isinstance(customer, dict):
        return payload
    shown = dict(customer)
    for field in PERSONAL_FIELDS.values():
        if isinstance(shown.get(field.attribute), str):
            shown[field.attribute] = field.mask(shown[field.attribute])
    return {**payload, "data": {**payload["data"], "customer": shown}}
