"""Customer reminders fit each tier's activation window and go before the monitor empties the account."""

from __future__ import annotations

from datetime import datetime, timedelta

import django_rq
import pytest
import time_machine
from django.utils import timezone, translation

from accounts import sms
from accounts.models import EmptyCause, LoanAccount, Notification, State
from accounts.monitor import monitor_scan
from accounts.notify import reminders_send
from accounts.policy import TIERS, Step, reminder_offsets
from tests.factories import make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db
START = "2026-11-10 09:00 +08:00"
HOUR = timedelta(hours=1)


def reminders_of(account: LoanAccount) -> list[Notification]:
    return list(Notification.objects.filter(account=account, template="reminder").order_by("created_at", "pk"))


def hours_after_issue(account: LoanAccount) -> list[float]:
    issued = LoanAccount.objects.get(pk=account.pk).issued_at
    assert issued is not None
    return [(message.created_at - issued) / HOUR for message in reminders_of(account)]


def steps_text(account: LoanAccount, *steps: Step) -> str:
    with translation.override(account.customer.language):
        return ", ".join(str(step.label) for step in steps)


def test_it_plans_reminders_at_thirds_of_the_window_and_a_day_before_its_end() -> None:
    assert TIERS["low"].reminders == (timedelta(days=1), timedelta(days=2))  # 2/3 and "a day before" coincide
    assert TIERS["medium"].reminders == (timedelta(hours=40), timedelta(hours=80), timedelta(days=4))
    assert TIERS["high"].reminders == (timedelta(hours=56), timedelta(hours=112), timedelta(days=6))
    assert reminder_offsets(timedelta(days=1)) == (timedelta(hours=16),)  # none at the start, none 8 h apart


def test_it_reminds_each_tier_inside_its_window_over_a_simulated_week() -> None:
    """The hourly reminders job and the monitor, run together hour by hour for eight days."""
    with time_machine.travel(START, tick=False) as clock:
        issued = timezone.now()
        low = make_account(State.ISSUED, tier="low")
        medium = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
        high = make_account(State.VERIFYING, tier="high")
        for _hour in range(8 * 24):
            clock.shift(HOUR)
            reminders_send()
            monitor_scan()

    assert hours_after_issue(low) == [24, 48]
    assert hours_after_issue(medium) == [40, 80, 96]
    assert hours_after_issue(high) == [56, 112, 144]
    for account, missing in (
        (low, (Step.SMS_CODE,)),
        (medium, (Step.PASSWORD,)),
        (high, (Step.SMS_CODE, Step.PASSWORD)),  # the credit officer's review is not the customer's to do
    ):
        account.refresh_from_db()
        assert (account.state, account.empty_cause) == (State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
        assert account.empty_since == issued + TIERS[account.tier].activation_window + HOUR  # the first scan after
        messages = reminders_of(account)
        assert all(message.created_at < account.empty_since for message in messages)  # none after it went empty
        assert {message.medium for message in messages} == {"sms"}  # one message per reminder, no email
        assert all(f"still to do: {steps_text(account, *missing)}." in message.body for message in messages)


def test_it_sends_each_reminder_once_and_only_the_latest_after_a_pause() -> None:
    with time_machine.travel(START, tick=False) as clock:
        account = make_account(State.VERIFYING, tier="high")
        clock.shift(timedelta(days=2, hours=8))
        assert reminders_send() == 1
        assert reminders_send() == 0  # running twice sends nothing new
        clock.shift(timedelta(days=3))  # the job did not run for 3 days: past the second reminder's time
        assert reminders_send() == 1
        assert reminders_send() == 0
    assert [message.dedupe_key for message in reminders_of(account)] == [
        f"reminder:{account.pk}:slot1:sms",
        f"reminder:{account.pk}:slot2:sms",  # not a burst of what was missed
    ]


def test_it_never_reminds_accounts_that_left_the_window_or_drills_or_customers_with_nothing_to_do() -> None:
    with time_machine.travel(START, tick=False) as clock:
        active = make_account(State.ACTIVE, tier="medium")
        held = make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="medium")
        closed = make_account(State.CLOSED, tier="medium")
        stalled = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, tier="medium")
        drill = make_account(State.VERIFYING, tier="medium", is_drill=True)
        reviewing = make_account(State.VERIFYING, tier="high", steps=["sms_code", "password"])
        overdue = make_account(State.VERIFYING, tier="low")  # still verifying after its 3 days: no monitor here
        waiting = make_account(State.VERIFYING, tier="medium")
        for _hour in range(6 * 24):
            clock.shift(HOUR)
            reminders_send()
    assert not Notification.objects.filter(account__in=[active, held, closed, stalled, drill, reviewing]).exists()
    assert hours_after_issue(overdue) == [24, 48]  # none from its deadline on, emptied or not
    assert hours_after_issue(waiting) == [40, 80, 96]


def test_the_reminders_job_and_the_monitor_run_through_a_real_worker(django_capture_on_commit_callbacks) -> None:
    queue = django_rq.get_queue("default")

    def run_jobs() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            queue.enqueue("accounts.jobs.send_reminders")
            queue.enqueue("accounts.jobs.scan_accounts")
        work(django_capture_on_commit_callbacks)

    with time_machine.travel(START, tick=False):
        account = make_account(State.VERIFYING, tier="low")
    start = datetime.fromisoformat(START.replace(" +", "+"))
    for hours, texts in ((24, 1), (25, 1), (48, 2), (73, 2), (96, 2)):  # day 1, day 2, then empty at day 3
        with time_machine.travel(start + hours * HOUR):
            run_jobs()
            run_jobs()  # twice: nothing new
        assert len(sms.outbox) == texts, f"{hours} h after issue"
    account.refresh_from_db()
    assert (account.state, account.empty_cause) == (State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    assert [message.to for message in sms.outbox] == [account.customer.contact_mobile] * 2
    assert all("/activate/" in message.text and "[link]" not in message.text for message in sms.outbox)
    assert set(Notification.objects.filter(template="reminder").values_list("status", flat=True)) == {"sent"}
