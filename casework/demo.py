"""Demo casework: open the cases of the demo's empty accounts and put some of them in motion."""

from __future__ import annotations

import random

from django.contrib.auth.models import User

from casework.models import Case, Status
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
