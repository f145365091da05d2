"""Retention: the personal data of customers whose accounts are all long closed is anonymised.

Once every account of a customer has been closed for ``RETENTION_YEARS`` (5 by default), the
nightly job replaces the customer's name, contact, mobile, email and credit code with
placeholders, and clears the recipients and texts of the messages sent to them and the
customer's details in the events core banking sent about them. The financial facts (accounts,
limits, tranches, commands) and the audit trail stay as they were; each customer anonymised is
one line of the access log, written in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import CoreEvent, Customer, LoanAccount, Notification, State
from portal import audit
from portal.models import SecurityEvent

ACTOR = "data-retention"
CHUNK = 500
# Placeholders: unique where the column is (a credit code is), recognisable as anonymised.
NAME = "已匿名客户 {pk}"
CODE = "ANON{pk:014d}"


def retention_cutoff(now: datetime | None = None) -> datetime:
    """The moment ``RETENTION_YEARS`` before now (29 February counts from 28 February)."""
    now = now or timezone.now()
    years = settings.RETENTION_YEARS
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def customers_due(cutoff: datetime) -> QuerySet[Customer]:
    """Customers not anonymised yet, with accounts, every one closed before ``cutoff``."""
    kept = LoanAccount.objects.filter(customer=OuterRef("pk")).exclude(state=State.CLOSED, closed_at__lt=cutoff)
    return (
        Customer.objects.filter(anonymised_at__isnull=True)
        .filter(Exists(LoanAccount.objects.filter(customer=OuterRef("pk"))))
        .exclude(Exists(kept))
    )


def anonymise_closed(*, now: datetime | None = None, limit: int = 50_000) -> dict[str, int]:
    """Anonymise the customers due, ``CHUNK`` per transaction; how many customers and messages."""
    now = now or timezone.now()
    cutoff = retention_cutoff(now)
    counts = {"customers": 0, "messages": 0}
    while counts["customers"] < limit:
        with transaction.atomic():
            due = customers_due(cutoff).select_for_update(skip_locked=True).order_by("pk")
            customers = list(due[:CHUNK].prefetch_related("accounts"))
            if not customers:
                break
            for customer in customers:
                numbers = sorted(account.number for account in customer.accounts.all())
                audit.record(
                    SecurityEvent.Kind.ANONYMISED,
                    actor=ACTOR,
                    subject_id=customer.pk,
                    subject_label=" ".join(numbers)[:200],
                    field="name,contact_name,contact_mobile,email,credit_code",
                    reason=f"every account closed before {timezone.localtime(cutoff):%Y-%m-%d}",
                    details={"accounts": numbers, "retention_years": settings.RETENTION_YEARS},
                )
                customer.name = NAME.format(pk=customer.pk)
                customer.contact_name = ""
                customer.contact_mobile = ""
                customer.email = ""
                customer.credit_code = CODE.format(pk=customer.pk)
                customer.anonymised_at = now
            Customer.objects.bulk_update(
                customers, ["name", "contact_name", "contact_mobile", "email", "credit_code", "anonymised_at"]
            )
            counts["messages"] += Notification.objects.filter(account__customer__in=customers).update(
                recipient="", subject="", body="", params={}
            )
            # Core banking's events as received carried the customer's details: keep the event, not them.
            events = list(CoreEvent.objects.filter(account__customer__in=customers, payload__data__has_key="customer"))
            for event in events:
                event.payload = {**event.payload, "data": {**event.payload["data"], "customer": {}}}
            CoreEvent.objects.bulk_update(events, ["payload"])
            counts["customers"] += len(customers)
    return counts
