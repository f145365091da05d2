"""Reference data the casework needs: SLA policies, WIP limits and the playbooks of each cause.

Loaded by a migration, and again by tests that flush the database; it never overwrites what an
admin has edited.
"""

from datetime import timedelta
from typing import Any

from django.utils.translation import gettext_noop

SLA = {
    1: (timedelta(minutes=30), timedelta(hours=4)),
    2: (timedelta(hours=2), timedelta(days=1)),
    3: (timedelta(hours=8), timedelta(days=3)),
    4: (timedelta(days=1), timedelta(days=7)),
}
# Who wrote a playbook's first version: the desk's reference data, not a person (a system actor,
# ``portal.actors.SYSTEM_ACTORS``, shown in the reader's language).
FIRST_VERSION_BY = "initial setup"
WIP = {"in_progress": 40, "waiting_customer": 80, "assigned": 60}
# Stored in English as reference data, shown in each reader's language (the steps a team edits
# show as written).
PLAYBOOKS = {
    "customer_incomplete": (
        gettext_noop("Customer did not finish verification"),
        [
            gettext_noop("Call the contact person and explain the missing step"),
            gettext_noop("Resend the activation message (SMS and email)"),
            gettext_noop("Confirm the SMS code is verified"),
            gettext_noop("Confirm the password is set"),
            gettext_noop("Note the outcome and the next contact date on the case"),
        ],
    ),
    "system_config": (
        gettext_noop("Activation failed in a system"),
        [
            gettext_noop("Read the activation error code on the account"),
            gettext_noop("Check the channel's product configuration in core banking"),
            gettext_noop("Link the case to an open incident if other accounts fail the same way"),
            gettext_noop("Fix the configuration or escalate to the core banking team"),
            gettext_noop("Retry the activation and confirm the account is active"),
        ],
    ),
    "risk_hold": (
        gettext_noop("Line frozen by credit on purpose"),
        [
            gettext_noop("Record why the line was held"),
            gettext_noop("Review the customer's file and latest credit score"),
            gettext_noop("Decide: keep the hold, reduce the line, or request a release"),
            gettext_noop("Tell customer service what to say to the customer"),
        ],
    ),
    "core_sync": (
        gettext_noop("The desk and core banking disagree"),
        [
            gettext_noop("Read what core banking answered or reported (the case's first timeline entry)"),
            gettext_noop("Compare the card in core banking with the account's state and history"),
            gettext_noop("Decide which side is right with the owner of the decision (credit for holds and limits)"),
            gettext_noop("Correct the wrong side: an action on the account, or a ticket to the core banking team"),
            gettext_noop("Confirm that the next reconciliation run finds no mismatch"),
        ],
    ),
    "not_issued": (
        gettext_noop("Approved line whose card was not issued"),
        [
            gettext_noop("Check why the card was not issued (high risk waits for a credit officer)"),
            gettext_noop("Issue the card, or record why the line must wait"),
            gettext_noop("Tell customer service if the customer has asked"),
        ],
    ),
}


def ensure_defaults(apps: Any = None, schema_editor: Any = None) -> None:
    from django.apps import apps as global_apps

    apps = apps or global_apps
    SlaPolicy = apps.get_model("casework", "SlaPolicy")
    WipLimit = apps.get_model("casework", "WipLimit")
    Playbook = apps.get_model("casework", "Playbook")
    PlaybookStep = apps.get_model("casework", "PlaybookStep")
    for priority, (assign, resolve) in SLA.items():
        SlaPolicy.objects.get_or_create(
            priority=priority, defaults={"time_to_assign": assign, "time_to_resolve": resolve}
        )
    for department in ("credit", "tech", "service"):
        for status, limit in WIP.items():
            WipLimit.objects.get_or_create(department_id=department, status=status, defaults={"limit": limit})
    try:  # the migration that loads them first runs before playbooks had versions
        PlaybookVersion = apps.get_model("casework", "PlaybookVersion")
    except LookupError:
        PlaybookVersion = None
    for cause, (title, steps) in PLAYBOOKS.items():
        playbook, created = Playbook.objects.get_or_create(cause=cause, defaults={"title": title})
        if created:
            PlaybookStep.objects.bulk_create(
                PlaybookStep(playbook=playbook, position=i, text=text) for i, text in enumerate(steps, start=1)
            )
            if PlaybookVersion is not None:
                PlaybookVersion.objects.create(
                    playbook=playbook, number=1, steps=list(steps), created_by_name=FIRST_VERSION_BY
                )


def playbook_first_versions(apps: Any = None, schema_editor: Any = None) -> None:
    """Version 1 of each playbook that has none: its steps as they are."""
    from django.apps import apps as global_apps

    apps = apps or global_apps
    Playbook = apps.get_model("casework", "Playbook")
    PlaybookVersion = apps.get_model("casework", "PlaybookVersion")
    for playbook in Playbook.objects.filter(versions__isnull=True).prefetch_related("steps"):
        steps = [step.text for step in sorted(playbook.steps.all(), key=lambda step: step.position)]
        PlaybookVersion.objects.create(
            playbook=playbook, number=playbook.version, steps=steps, created_by_name=FIRST_VERSION_BY
        )
