"""Demo casework: open the cases of the demo's empty accounts and put some of them in motion."""

from __future__ import annotations

import random

from django.contrib.auth.models import User

from accounts.models import EmptyCause
from casework.models import Case, CaseStudy, Status
from casework.services import case_transition, cases_assign, cases_open_for_empty_accounts
from portal.actors import Actor

WORKERS = {"service": "service", "tech": "tech", "credit": "credit"}


def demo_cases_create(*, seed: int = 2026) -> int:
    """Open missing cases, then assign about half of the new ones and start or park some."""
    opened = cases_open_for_empty_accounts(actor=Actor.system("seed_demo", "job"))
    if not opened:
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    lead = User.objects.filter(username="lead").first()
    for department, username in WORKERS.items():
        worker = User.objects.filter(username=username).first()
        if lead is None or worker is None:
            continue
        new_cases = list(
            Case.objects.filter(department_id=department, status=Status.NEW, is_drill=False).values_list(
                "pk", flat=True
            )
        )
        chosen = [pk for pk in new_cases if rng.random() < 0.5]
        if not chosen:
            continue
        cases_assign(case_ids=chosen, assignee=worker, by=lead)
        for pk in chosen:
            roll = rng.random()
            if roll < 0.6:
                case_transition(case_id=pk, name="start", user=worker, expected_version=None)
            if roll < 0.25:
                case_transition(
                    case_id=pk,
                    name="wait_for_customer",
                    user=worker,
                    expected_version=None,
                    note="Left a message with the contact person.",
                )
    return opened


# The two cases of the article the product grew from, told as case studies.
DEMO_STUDIES = (
    {
        "title": "Tech company's finance team never finished activation: caught in time",
        "cause": EmptyCause.CUSTOMER_INCOMPLETE,
        "outcome": CaseStudy.Outcome.SUCCESS,
        "source_label": "Shenzhen branch, working-capital line",
        "summary": (
            "A technology company's finance staff received the activation message but never set the password; "
            "the line sat empty for nine days before a planned drawdown."
        ),
        "root_cause": (
            "The message went to a general finance mailbox nobody owned, and the contract did not say that "
            "activation was the customer's step."
        ),
        "what_worked": (
            "The day-7 reminder prompted the company to call; the service agent walked the treasurer through "
            "the SMS code and password on the phone and the loan was drawn on time."
        ),
        "what_to_change": (
            "Ask for a named activation contact at signing, and state the activation steps in the contract."
        ),
    },
    {
        "title": "Manufacturer's card never activated after a configuration error: customer lost",
        "cause": EmptyCause.SYSTEM_CONFIG,
        "outcome": CaseStudy.Outcome.PROBLEM,
        "source_label": "Equipment-purchase line, branch channel",
        "summary": (
            "A manufacturer's credit card was never activated because the branch channel was missing from the "
            "product configuration. It missed its drawdown, its production plan slipped, and it moved to "
            "another lender."
        ),
        "root_cause": (
            "A product release dropped the branch channel from the configuration table; every activation "
            "from that channel failed and nobody was watching the failure rate."
        ),
        "what_worked": "Once found, one re-drive activated every stuck account within the hour.",
        "what_to_change": (
            "Watch empty cards per channel around the clock (anomaly detection), route them to tech at once, "
            "and tell the customer the same day what is happening."
        ),
    },
)


def demo_studies_create(author: User) -> int:
    """The demo's case studies, once."""
    if CaseStudy.objects.exists():
        return 0
    CaseStudy.objects.bulk_create(
        CaseStudy(**study, author=author, author_name=author.get_full_name() or author.username)
        for study in DEMO_STUDIES
    )
    return len(DEMO_STUDIES)
