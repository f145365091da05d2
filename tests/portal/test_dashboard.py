"""Each dashboard figure, computed on known data (drill rows included, and ignored)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, EmptyCause, LoanAccount, State
from accounts.policy import activation_due
from casework.models import Case
from casework.services import case_open_for_account
from portal.actors import Actor
from portal.pages import dashboard
from portal.pages.dashboard import dashboard_figures, figures_refresh
from portal.pages.jobs import refresh_dashboard
from tests.factories import CustomerFactory, make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("t", "job")


def went_empty(account: LoanAccount, transition: str, when) -> None:
    AuditEntry.objects.create(account=account, transition=transition, from_state="issued", to_state="empty",
                              actor_name="t", channel="job", created_at=when)  # fmt: skip


def known_data() -> dict[str, LoanAccount]:
    now = timezone.now()
    accounts = {
        "sc": make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, product="project_finance"),
        "ci1": make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        "ci2": make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        "drill": make_account(State.EMPTY, EmptyCause.RISK_HOLD, is_drill=True),
        "fast": make_account(State.ACTIVE),
        "slow": make_account(State.ACTIVE),
    }
    went_empty(accounts["sc"], "fail_activation", now)
    went_empty(accounts["ci1"], "mark_stalled", now - timedelta(days=2))
    went_empty(accounts["drill"], "hold", now)
    # fast: activated 2 h after issue; slow: 10 days after (outside the low tier's 3-day window)
    for key, hours in (("fast", 2), ("slow", 240)):
        issued = now - timedelta(days=12)
        LoanAccount.objects.filter(pk=accounts[key].pk).update(
            issued_at=issued,
            activation_due_at=activation_due(issued, accounts[key].tier),
            activated_at=issued + timedelta(hours=hours),
        )
    for key in ("sc", "ci1", "drill"):
        case_open_for_account(account=accounts[key], cause=accounts[key].empty_cause, actor=JOB)
    return accounts


def test_the_figures_on_known_data() -> None:
    known_data()
    figures = dashboard_figures()
    assert figures["empty_total"].value == 3  # the drill account does not count
    assert [(f.label, f.value) for f in figures["empty_by_cause"]] == [
        ("System configuration", 1),
        ("Customer steps incomplete", 2),
        ("Risk hold", 0),
    ]
    assert {f.label: f.value for f in figures["empty_by_product"]}["Project finance"] == 1
    assert figures["new_empty_today"] == 1
    assert (figures["conversion"].issued, figures["conversion"].activated_in_window, figures["conversion"].percent) == (
        2,
        1,
        50.0,
    )
    assert (figures["durations"].count, figures["durations"].median_hours) == (2, 121.0)
    assert figures["durations"].p90_hours == pytest.approx(216.2)
    open_cases = {row.department.code: (row.open, row.overdue) for row in figures["departments"]}
    assert open_cases == {"credit": (0, 0), "service": (1, 0), "tech": (1, 0)}
    trend_total = sum(bar.height > 0 for bar in figures["trend"]["bars"])
    assert trend_total == 2  # today's system fault and two days ago's stalled customer; not the drill hold


def test_the_page_shows_the_figures_with_links_to_their_lists(client: Client, lead) -> None:
    known_data()
    client.force_login(lead)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'href="/accounts/?state=empty&amp;empty_cause=customer_incomplete"' in page
    listed = client.get("/accounts/?state=empty&empty_cause=customer_incomplete")
    assert listed.context["table"].page.paginator.count == 2  # the figure and its list agree
    fragment = client.get(reverse("dashboard"), headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="dashboard-figures"') and "<html" not in fragment
    assert 'hx-trigger="every 60s"' in fragment


def test_resolution_times_land_in_their_buckets() -> None:
    known_data()
    now = timezone.now()
    Case.objects.filter(account__product="project_finance").update(
        status="resolved", opened_at=now - timedelta(hours=30), resolved_at=now
    )
    assert dashboard_figures()["resolution"]["bars"][2 * 5 + 2].height > 0  # tech, "< 3 days"


def test_the_dashboard_pins_its_queries_for_100_and_10000_accounts(
    client: Client, lead, django_assert_num_queries
) -> None:
    customer = CustomerFactory.create()
    client.force_login(lead)

    def add(count: int, offset: int) -> None:
        LoanAccount.objects.bulk_create(
            LoanAccount(
                number=f"LD{offset + i:010d}",
                customer=customer,
                product="working_capital",
                channel="x",
                approved_limit=Decimal(1000),
                state=State.EMPTY,
                empty_cause="system_config",
                empty_since=timezone.now(),
                issued_at=timezone.now(),
            )
            for i in range(count)
        )

    add(100, 0)
    # Computing the figures (the periodic job, or the page when there is no snapshot yet).
    with django_assert_num_queries(13) as computing:  # the last: the complaints of the last 30 days
        figures_refresh()
    computed = len(computing)  # now: the query log is a bounded deque, later slices of it shift
    client.get(reverse("dashboard"))
    # The page reads the snapshot: the header (6), the job heartbeats, the database check.
    with django_assert_num_queries(8) as few:
        client.get(reverse("dashboard"))
    read = len(few)
    add(9900, 100)
    with django_assert_num_queries(computed):
        figures_refresh()
    with django_assert_num_queries(read):
        response = client.get(reverse("dashboard"))
    assert response.context["empty_total"].value == 10000


def audit(account: LoanAccount, transition: str, from_state: str, to_state: str, when: str) -> None:
    AuditEntry.objects.create(account=account, transition=transition, from_state=from_state, to_state=to_state,
                              actor_name="t", channel="job", created_at=f"{when} 10:00 +08:00")  # fmt: skip


def costly_data() -> dict[str, LoanAccount]:
    """A week of accounts going empty and being freed, seen on Wednesday 2026-11-18 (week 47)."""
    accounts = {
        # empty now
        "sc": make_account(
            State.EMPTY, EmptyCause.SYSTEM_CONFIG, product="project_finance", approved_limit=Decimal("1000000.00")
        ),
        "ci": make_account(
            State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, product="working_capital", approved_limit=Decimal("250000.00")
        ),
        "hold": make_account(
            State.EMPTY,
            EmptyCause.RISK_HOLD,
            product="working_capital",
            tier="high",
            approved_limit=Decimal("80000.00"),
        ),
        "drill": make_account(State.EMPTY, EmptyCause.RISK_HOLD, is_drill=True, approved_limit=Decimal("9999999")),
        # freed this week: straight from empty, and through verification
        "fixed": make_account(State.ACTIVE, approved_limit=Decimal("200000.00")),
        "verified": make_account(State.ACTIVE, approved_limit=Decimal("300000.00")),
        # not freed this week: never empty, freed last week, drill
        "first": make_account(State.ACTIVE, approved_limit=Decimal("70000.00")),
        "last_week": make_account(State.ACTIVE, approved_limit=Decimal("150000.00")),
        "drill_freed": make_account(State.ACTIVE, is_drill=True, approved_limit=Decimal("5000000")),
    }
    audit(accounts["sc"], "fail_activation", "issued", "empty", "2026-11-16")
    audit(accounts["hold"], "hold", "verifying", "empty", "2026-11-18")
    audit(accounts["ci"], "mark_stalled", "verifying", "empty", "2026-10-01")  # before the 30 days
    audit(accounts["fixed"], "fail_activation", "issued", "empty", "2026-11-16")
    audit(accounts["fixed"], "activate", "empty", "active", "2026-11-17")
    audit(accounts["verified"], "mark_stalled", "issued", "empty", "2026-11-10")
    audit(accounts["verified"], "begin_verification", "empty", "verifying", "2026-11-17")
    audit(accounts["verified"], "activate", "verifying", "active", "2026-11-18")
    audit(accounts["first"], "activate", "verifying", "active", "2026-11-17")
    audit(accounts["last_week"], "fail_activation", "issued", "empty", "2026-11-11")
    audit(accounts["last_week"], "activate", "empty", "active", "2026-11-12")
    audit(accounts["drill_freed"], "hold", "active", "empty", "2026-11-16")
    audit(accounts["drill_freed"], "release_hold", "empty", "active", "2026-11-17")
    return accounts


@time_machine.travel("2026-11-18 15:00 +08:00", tick=False)
def test_it_counts_the_credit_that_empty_cards_lock_by_cause_and_product() -> None:
    costly_data()
    figures = dashboard_figures()
    assert figures["unusable_total"].value == Decimal("1330000.00")  # not the drill's line
    assert [(f.label, f.value) for f in figures["unusable_by_cause"]] == [
        ("System configuration", Decimal("1000000.00")),
        ("Customer steps incomplete", Decimal("250000.00")),
        ("Risk hold", Decimal("80000.00")),
    ]
    assert {f.label: f.value for f in figures["unusable_by_product"]} == {
        "Working capital": Decimal("330000.00"),
        "Project finance": Decimal("1000000.00"),
        "Equipment purchase": Decimal(0),
    }


@time_machine.travel("2026-11-18 15:00 +08:00", tick=False)
def test_it_counts_the_lines_freed_this_week_by_activations() -> None:
    costly_data()
    freed = dashboard_figures()["freed_this_week"]
    # fixed (empty → active) and verified (empty → verifying → active); not first, last_week, drill
    assert (freed.accounts, freed.amount) == (2, Decimal("500000.00"))
    assert freed.url == "/accounts/?freed_in=2026-W47"


@time_machine.travel("2026-11-18 15:00 +08:00", tick=False)
def test_it_walks_the_unusable_credit_back_30_days_from_the_audit() -> None:
    costly_data()
    trend = dashboard_figures()["unusable_trend"]
    by_day = {str(day.day): day.amount for day in (trend["first"], trend["last"])}
    assert by_day == {"2026-10-20": Decimal("250000.00"), "2026-11-18": Decimal("1330000.00")}
    from portal.pages.dashboard import unusable_trend

    amounts = {str(day.day): day.amount for day in unusable_trend(timezone.now(), Decimal("1330000.00"))}
    assert len(amounts) == 30
    assert amounts["2026-11-09"] == Decimal("250000.00")  # ci only
    assert amounts["2026-11-10"] == Decimal("550000.00")  # + verified stalls
    assert amounts["2026-11-11"] == Decimal("700000.00")  # + last_week fails
    assert amounts["2026-11-12"] == Decimal("550000.00")  # - last_week activated
    assert amounts["2026-11-16"] == Decimal("1750000.00")  # + sc and fixed fail (drill hold ignored)
    assert amounts["2026-11-17"] == Decimal("1250000.00")  # - fixed activated, - verified verifying
    assert amounts["2026-11-18"] == Decimal("1330000.00")  # + the hold
    assert trend["peak"] == Decimal("1750000.00") and len(trend["bars"]) == 30


@time_machine.travel("2026-11-18 15:00 +08:00", tick=False)
def test_each_cost_figure_links_to_the_accounts_behind_it(client: Client, lead) -> None:
    accounts = costly_data()
    client.force_login(lead)
    page = client.get(reverse("dashboard")).content.decode()
    assert "¥1,330,000.00" in page and "¥500,000.00" in page
    figures = dashboard_figures()

    def listed(url: str) -> set[str]:
        assert url.replace("&", "&amp;") in page
        table = client.get(url).context["table"]
        return {row.record.number for row in table.page.object_list}

    def numbers(*keys: str) -> set[str]:
        return {accounts[key].number for key in keys}

    assert listed(figures["unusable_total"].url) == numbers("sc", "ci", "hold")
    causes = [listed(f.url) for f in figures["unusable_by_cause"]]
    assert causes == [numbers("sc"), numbers("ci"), numbers("hold")]
    products = {f.label: listed(f.url) for f in figures["unusable_by_product"]}
    assert products == {
        "Working capital": numbers("ci", "hold"),
        "Project finance": numbers("sc"),
        "Equipment purchase": set(),
    }
    assert listed(figures["freed_this_week"].url) == numbers("fixed", "verified")
    assert client.get("/accounts/?freed_in=2026-W46").context["table"].page.paginator.count == 1  # last_week
    refused = client.get("/accounts/?freed_in=week-47")
    assert "e.g. 2026-W47" in refused.content.decode()  # said, and the filter ignored


def test_the_page_reads_the_snapshot_and_computes_only_without_one(client: Client, lead) -> None:
    from django.core.cache import caches

    make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    client.force_login(lead)
    assert client.get(reverse("dashboard")).context["empty_total"].value == 1  # no snapshot yet: computed
    make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    assert client.get(reverse("dashboard")).context["empty_total"].value == 1  # the snapshot, until refreshed
    refresh_dashboard()
    assert client.get(reverse("dashboard")).context["empty_total"].value == 2
    caches["figures"].clear()
    assert client.get(reverse("dashboard")).context["empty_total"].value == 2


def test_the_page_computes_the_figures_when_redis_is_down(client: Client, lead, settings) -> None:
    make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    settings.CACHES = {**settings.CACHES, "figures": {**settings.CACHES["figures"], "LOCATION": "redis://127.0.0.1:9"}}
    client.force_login(lead)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200 and response.context["empty_total"].value == 1


def test_while_one_process_computes_the_others_show_the_last_figures_or_say_so(client: Client, lead) -> None:
    figures = caches["figures"]
    figures.clear()
    client.force_login(lead)
    figures.add(dashboard.COMPUTING_KEY, 1, 60)  # another web process is computing the figures
    waiting = client.get(reverse("dashboard"))
    assert waiting.context["computing"] is True
    assert "The figures are being computed" in waiting.content.decode() and 'hx-trigger="every 3s"' in (
        waiting.content.decode()
    )
    make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    figures_refresh()
    figures.delete(dashboard.SNAPSHOT_KEY)  # the snapshot expired; the last figures are kept longer
    make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    assert client.get(reverse("dashboard")).context["empty_total"].value == 1  # the last ones, not recomputed
    figures.delete(dashboard.COMPUTING_KEY)  # that process is done (or died: the key expires)
    assert client.get(reverse("dashboard")).context["empty_total"].value == 2  # this request computes them


def test_a_cold_start_computes_the_figures_once_however_many_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    caches["figures"].clear()
    computed = []

    def slow_figures(now: object = None) -> dict[str, object]:
        computed.append(threading.get_ident())
        time.sleep(0.5)  # long enough for every other request to arrive meanwhile
        return {"empty_total": len(computed)}

    monkeypatch.setattr(dashboard, "dashboard_figures", slow_figures)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _request: dashboard.figures_snapshot(), range(6)))
    assert len(computed) == 1
    assert answers.count({"empty_total": 1}) == 1 and answers.count(None) == 5  # the others: "being computed"
    assert dashboard.figures_snapshot() == {"empty_total": 1}  # and from now on everyone reads the snapshot


def test_the_shared_snapshot_is_drawn_in_each_readers_language(client: Client, lead) -> None:
    """The worker computes the figures once, in its language; each page shows them in the reader's."""
    from django.utils import translation

    make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    with translation.override("zh-hans"):
        figures_refresh()  # as the periodic job does, in the machine's language
    client.force_login(lead)
    english = client.get(reverse("dashboard"), headers={"Accept-Language": "en"}).content.decode()
    chinese = client.get(reverse("dashboard"), headers={"Accept-Language": "zh-CN"}).content.decode()
    assert "Risk hold" in english and "风险冻结" not in english
    assert "业务规则限制（风险冻结）" in chinese and "Risk hold" not in chinese
