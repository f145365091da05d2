"""Realistic demo customers and loan accounts, created in bulk.

``demo_accounts_create`` writes enterprise borrowers and their credit lines spread over every
state and every empty-card cause, with the timestamps, verification steps, tranches and audit
history each state implies, as if the accounts had gone through ``accounts.services``. It
writes plain rows (``COPY`` on PostgreSQL, see ``portal.bulk``) so that a million accounts load
in minutes; it is deterministic for a given seed and number of accounts already in the
database, and safe to run again.
"""

from __future__ import annotations

import functools
import itertools
import operator
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEntry, CardState, Channel, Customer, EmptyCause, LoanAccount, Product, State, Tranche
from accounts.policy import TIERS, RiskTier, Step, activation_due, tranche_amounts
from accounts.validators import CREDIT_CODE_CHARS, credit_code_check_char
from portal.bulk import bulk_insert, indexes_deferred, insert_rows, reserve_ids

# --- names and places -------------------------------------------------------------------

# City, and the administrative region code (GB/T 2260) of one of its districts.
CITIES: tuple[tuple[str, str], ...] = (
    ("上海", "310115"),
    ("北京", "110105"),
    ("深圳", "440304"),
    ("广州", "440106"),
    ("杭州", "330106"),
    ("苏州", "320505"),
    ("南京", "320106"),
    ("武汉", "420106"),
    ("成都", "510107"),
    ("重庆", "500112"),
    ("天津", "120116"),
    ("西安", "610113"),
    ("青岛", "370212"),
    ("宁波", "330212"),
    ("厦门", "350206"),
    ("长沙", "430104"),
    ("郑州", "410105"),
    ("合肥", "340104"),
    ("济南", "370102"),
    ("大连", "210204"),
    ("沈阳", "210102"),
    ("福州", "350102"),
    ("昆明", "530102"),
    ("无锡", "320214"),
    ("东莞", "441900"),
    ("佛山", "440604"),
    ("常州", "320411"),
    ("南通", "320602"),
    ("温州", "330302"),
    ("哈尔滨", "230103"),
    ("南昌", "360102"),
    ("石家庄", "130102"),
)
# A brand of two characters, each with its pinyin for the e-mail domain.
BRAND_SYLLABLES: tuple[tuple[str, str], ...] = (
    ("华", "hua"), ("鑫", "xin"), ("泰", "tai"), ("荣", "rong"), ("盛", "sheng"), ("金", "jin"),
    ("宏", "hong"), ("达", "da"), ("恒", "heng"), ("源", "yuan"), ("天", "tian"), ("隆", "long"),
    ("凯", "kai"), ("明", "ming"), ("丰", "feng"), ("昌", "chang"), ("宝", "bao"), ("富", "fu"),
    ("广", "guang"), ("海", "hai"), ("嘉", "jia"), ("永", "yong"), ("中", "zhong"), ("诚", "cheng"),
    ("瑞", "rui"), ("通", "tong"), ("兴", "xing"), ("宇", "yu"), ("安", "an"), ("伟", "wei"),
    ("联", "lian"), ("鼎", "ding"), ("浩", "hao"), ("润", "run"), ("顺", "shun"),
)  # fmt: skip
# Industry as it appears in the name, and the word used in the e-mail domain.
INDUSTRIES: tuple[tuple[str, str], ...] = (
    ("精密机械", "precision"),
    ("新材料", "materials"),
    ("电子科技", "electronics"),
    ("物流", "logistics"),
    ("医药", "pharma"),
    ("纺织", "textile"),
    ("汽车零部件", "autoparts"),
    ("食品加工", "foods"),
    ("化工", "chemical"),
    ("建筑工程", "construction"),
    ("环保科技", "enviro"),
    ("半导体", "semicon"),
    ("新能源", "newenergy"),
    ("光伏科技", "solar"),
    ("医疗器械", "meditech"),
    ("包装", "packaging"),
    ("钢结构", "steel"),
    ("家具", "furniture"),
    ("农业开发", "agri"),
    ("进出口贸易", "trading"),
    ("供应链管理", "supplychain"),
    ("光电", "opto"),
    ("生物科技", "biotech"),
    ("智能装备", "smartequip"),
    ("冷链物流", "coldchain"),
    ("软件", "software"),
    ("石化设备", "petrochem"),
    ("陶瓷", "ceramics"),
    ("印刷", "printing"),
    ("服装", "garment"),
    ("海洋工程", "marine"),
    ("电池科技", "battery"),
)
COMPANY_SUFFIXES = ("有限公司", "有限公司", "有限公司", "有限公司", "集团有限公司", "实业有限公司")
SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "韩", "冯", "邓", "曹", "彭",
)  # fmt: skip
GIVEN_NAMES = (
    "芳", "伟", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "晓明", "慧", "健", "平", "刚", "兰", "娜", "红", "欣", "一帆", "浩然", "子涵", "雨婷", "佳慧", "志强",
)  # fmt: skip
EMAIL_MAILBOXES = ("finance", "finance", "treasury", "accounts", "cfo")
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
    "158", "159", "166", "173", "176", "177", "180", "181", "186", "187", "188", "189", "191", "199",
)  # fmt: skip
CHANNELS: tuple[tuple[str, int], ...] = (
    ("网上银行", 20),
    ("手机银行", 14),
    ("客户经理", 16),
    ("上海浦东支行", 10),
    ("深圳福田支行", 8),
    ("北京朝阳支行", 8),
    ("广州天河支行", 6),
    ("杭州西湖支行", 6),
    ("成都锦江支行", 5),
    ("供应链平台", 7),
)

# --- how the accounts spread --------------------------------------------------------------

TIER_WEIGHTS = ((RiskTier.LOW, 50), (RiskTier.MEDIUM, 35), (RiskTier.HIGH, 15))
# Mean, spread and bounds of the credit score per tier.
CREDIT_SCORES = {
    RiskTier.LOW: (770, 50, 640, 900),
    RiskTier.MEDIUM: (670, 50, 520, 800),
    RiskTier.HIGH: (560, 70, 300, 690),
}
ACCOUNTS_PER_CUSTOMER = ((1, 75), (2, 20), (3, 5))  # 1.3 on average
PRODUCT_WEIGHTS = ((Product.WORKING_CAPITAL, 50), (Product.EQUIPMENT_PURCHASE, 30), (Product.PROJECT_FINANCE, 20))
# Approved limit per product in CNY, drawn log-uniformly and rounded to 10,000.
LIMIT_RANGES: dict[str, tuple[int, int]] = {
    Product.WORKING_CAPITAL: (200_000, 10_000_000),
    Product.EQUIPMENT_PURCHASE: (500_000, 20_000_000),
    Product.PROJECT_FINANCE: (5_000_000, 50_000_000),
}
STATE_WEIGHTS = (
    (State.APPROVED, 8),
    (State.ISSUED, 12),
    (State.VERIFYING, 10),
    (State.ACTIVE, 45),
    (State.EMPTY, 20),
    (State.CLOSED, 5),
)
CAUSE_WEIGHTS = ((EmptyCause.SYSTEM_CONFIG, 40), (EmptyCause.CUSTOMER_INCOMPLETE, 45), (EmptyCause.RISK_HOLD, 15))
ERROR_CODES = (
    ("CB-4031", "核心系统拒绝了卡片参数"),
    ("CB-4102", "额度未同步到卡系统"),
    ("CB-5002", "核心系统超时"),
    ("CFG-CHANNEL-MISSING", "该产品未配置此渠道"),
    ("CFG-PRODUCT-LIMIT", "该支行缺少产品额度表"),
    ("HSM-KEY-EXPIRED", "加密机中的卡密钥已过期"),
    ("SMS-GW-503", "短信网关不可用"),
)
HOLD_REASONS = (
    "征信报告出现不良记录",
    "他行报送逾期还款",
    "发现法院强制执行记录",
    "控股股东变更审查中",
    "抵押物估值下降",
    "制裁名单筛查命中，待核实",
)
CLOSE_REASONS = {
    State.ACTIVE: ("额度已还清，应客户要求销户。", "已由续授信额度替代。"),
    State.ISSUED: ("客户在激活前放弃该额度。",),
    State.APPROVED: ("发卡前撤回审批。", "客户放弃授信。"),
}
STEP_NAMES = {Step.SMS_CODE: "短信验证码", Step.PASSWORD: "设置密码", Step.CREDIT_REVIEW: "信贷审核"}

CORE_BANKING = "core-banking"
MONITOR = "activation-monitor"
SEED = "seed_demo"
NUMBER_PREFIX = "LA"
BULK_LOAD = 100_000  # from this many accounts at once (and at least as many as there are), index after
NUMBER_BASE = 1_000_000_000  # the first demo account is LA1000000001 when there is none yet


@functools.cache
def _cumulative(options: tuple[tuple[Any, int], ...]) -> tuple[list[Any], list[int]]:
    return [value for value, _weight in options], list(itertools.accumulate(weight for _value, weight in options))


def _weighted(rng: random.Random, options: tuple[tuple[Any, int], ...]) -> Any:
    """One of the options, by weight (the same draw as ``rng.choices(values, weights)``)."""
    values, cumulative = _cumulative(options)
    return rng.choices(values, cum_weights=cumulative)[0]


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(hours=rng.uniform(low, high))


# --- customers ----------------------------------------------------------------------------


def _credit_code(rng: random.Random, region: str, taken: set[str]) -> str:
    """A valid, unused unified social credit code: 9 1 <region> <9-char org code> <check>."""
    while True:
        first17 = "91" + region + "".join(rng.choices(CREDIT_CODE_CHARS, k=9))
        code = first17 + credit_code_check_char(first17)
        if code not in taken:
            taken.add(code)
            return code


def _customer(rng: random.Random, taken_codes: set[str], is_drill: bool) -> Customer:
    city, region = rng.choice(CITIES)
    (first, first_pinyin), (second, second_pinyin) = rng.sample(BRAND_SYLLABLES, 2)
    brand, brand_pinyin = first + second, first_pinyin + second_pinyin
    industry, domain_word = rng.choice(INDUSTRIES)
    tier = _weighted(rng, TIER_WEIGHTS)
    mean, spread, low, high = CREDIT_SCORES[tier]
    return Customer(
        name=f"{city}{brand}{industry}{rng.choice(COMPANY_SUFFIXES)}",
        credit_code=_credit_code(rng, region, taken_codes),
        contact_name=f"{rng.choice(SURNAMES)}{rng.choice(GIVEN_NAMES)}",
        contact_mobile=rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
        email=f"{rng.choice(EMAIL_MAILBOXES)}@{brand_pinyin}-{domain_word}.example",
        risk_tier=tier,
        credit_score=min(high, max(low, round(rng.gauss(mean, spread)))),
        is_drill=is_drill,
    )


def synthetic_customers(count: int, *, seed: int, is_drill: bool = False) -> list[Customer]:
    """``count`` unsaved, realistic customers whose credit codes are not in the database yet."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible on purpose
    taken: set[str] = set()
    customers = [_customer(rng, taken, is_drill) for _index in range(count)]
    clashes = set(Customer.objects.filter(credit_code__in=taken).values_list("credit_code", flat=True))
    for customer in customers:
        if customer.credit_code in clashes:
            customer.credit_code = _credit_code(rng, customer.credit_code[2:8], taken | clashes)
    return customers


def synthetic_line(rng: random.Random) -> tuple[str, Decimal, str]:
    """A product, an approved limit for it and a sales channel, drawn like the demo's."""
    product = _weighted(rng, PRODUCT_WEIGHTS)
    return product, _approved_limit(rng, product), _weighted(rng, CHANNELS)


# --- accounts -----------------------------------------------------------------------------


# action, from_state, to_state, at, actor_name, channel, reason, details
_Event = tuple[str, str, str, datetime, str, str, str, dict[str, str]]


@dataclass
class _History:
    """The transitions an account went through, oldest first, and the state they led to."""

    events: list[_Event] = field(default_factory=list)
    state: str = State.APPROVED

    def add(
        self,
        action: str,
        to_state: str,
        at: datetime,
        *,
        actor: str,
        channel: str,
        reason: str,
        details: dict[str, str] | None = None,
    ) -> None:
        self.events.append((action, self.state, to_state, at, actor, channel, reason, details or {}))
        self.state = to_state


def _approved_limit(rng: random.Random, product: str) -> Decimal:
    low, high = LIMIT_RANGES[product]
    amount = low * (high / low) ** rng.random()
    return Decimal(max(low, min(high, round(amount, -4)))).quantize(Decimal("0.01"))


def _steps(rng: random.Random, tier: str, done: int, start: datetime, end: datetime) -> dict[str, datetime]:
    """The first ``done`` required steps of the tier, at sorted times between start and end."""
    steps = TIERS[tier].required_steps[:done]
    span = (end - start).total_seconds()
    times = sorted(start + timedelta(seconds=rng.uniform(0.05, 0.95) * span) for _step in steps)
    return dict(zip(steps, times, strict=True))


@dataclass(frozen=True)
class _AccountPlan:
    """One account before it is saved: its field values, its history and its tranche amounts."""

    fields: dict[str, Any]
    events: list[_Event]
    tranches: list[Decimal]


def _account(
    rng: random.Random,
    tier: str,
    number: str,
    now: datetime,
    is_drill: bool,
    state_weights: tuple[tuple[str, int], ...] = STATE_WEIGHTS,
    cause_weights: tuple[tuple[str, int], ...] = CAUSE_WEIGHTS,
) -> _AccountPlan:
    """Draw one account of a customer of this tier: state, timeline, steps, limit and history."""
    window = TIERS[tier].activation_window
    window_hours = window.total_seconds() / 3600
    required = len(TIERS[tier].required_steps)
    product = _weighted(rng, PRODUCT_WEIGHTS)
    approved_limit = _approved_limit(rng, product)
    state = _weighted(rng, state_weights)
    cause = _weighted(rng, cause_weights) if state == State.EMPTY else ""

    history = _History()
    issued_at: datetime | None = None
    activated_at: datetime | None = None
    closed_at: datetime | None = None
    empty_since: datetime | None = None
    error_code = ""
    steps: dict[str, datetime] = {}

    def issue(at: datetime) -> None:
        nonlocal issued_at
        issued_at = at
        history.add("issue", State.ISSUED, at, actor=CORE_BANKING, channel=Channel.WEBHOOK, reason="已发卡。")

    def verify(at: datetime) -> None:
        history.add(
            "begin_verification",
            State.VERIFYING,
            at,
            actor=CORE_BANKING,
            channel=Channel.WEBHOOK,
            reason="客户已打开激活页面。",
        )

    def activate(at: datetime, reason: str = "核心系统已确认激活。") -> None:
        nonlocal activated_at
        activated_at = at
        history.add("activate", State.ACTIVE, at, actor=CORE_BANKING, channel=Channel.WEBHOOK, reason=reason)

    def reach_active(at: datetime) -> datetime:
        """Issue, maybe verify (maybe after a failed attempt), activate at ``at``; return created_at."""
        nonlocal steps
        recovered = rng.random() < 0.1
        t_verify = at - _hours(rng, 0.5, 72)
        t_issue = t_verify - _hours(rng, 0.2, 48)
        issue(t_issue)
        if rng.random() < 0.75:
            verify(t_verify)
        if recovered:
            code, text = rng.choice(ERROR_CODES)
            t_fail = t_verify + (at - t_verify) * rng.uniform(0.2, 0.8)
            history.add(
                "fail_activation",
                State.EMPTY,
                t_fail,
                actor=CORE_BANKING,
                channel=Channel.WEBHOOK,
                reason=f"激活失败：{code}（{text}）。",
                details={"error_code": code},
            )
            activate(at, "配置修复后已重新激活。")
        else:
            activate(at)
        steps = _steps(rng, tier, required, t_issue, at)
        return t_issue - _hours(rng, 2, 72)

    def stuck_for() -> timedelta:
        if rng.random() < 0.7:
            return _hours(rng, 0.5, 7 * 24)
        return _hours(rng, 7 * 24, 30 * 24)

    if state == State.APPROVED:
        created_at = now - _hours(rng, 2, 12 * 24)
    # Issued and verifying accounts are within their window: past it, the monitor would have
    # moved them to the empty-card state already.
    elif state == State.ISSUED:
        t_issue = now - _hours(rng, 0.5, window_hours * 0.95)
        issue(t_issue)
        steps = _steps(rng, tier, rng.randrange(required), t_issue, now)
        created_at = t_issue - _hours(rng, 2, 72)
    elif state == State.VERIFYING:
        t_issue = now - _hours(rng, 1, window_hours * 0.95)
        t_verify = t_issue + (now - t_issue) * rng.uniform(0.1, 0.9)
        issue(t_issue)
        verify(t_verify)
        steps = _steps(rng, tier, rng.randrange(required), t_issue, now)
        created_at = t_issue - _hours(rng, 2, 72)
    elif state == State.ACTIVE:
        created_at = reach_active(now - _hours(rng, 1, 45 * 24))
    elif state == State.EMPTY:
        empty_since = now - stuck_for()
        if cause == EmptyCause.SYSTEM_CONFIG:
            t_verify = empty_since - _hours(rng, 0.2, 48)
            t_issue = t_verify - _hours(rng, 0.2, 48)
            issue(t_issue)
            if rng.random() < 0.6:
                verify(t_verify)
            done = required if rng.random() < 0.75 else rng.randrange(required)
            steps = _steps(rng, tier, done, t_issue, empty_since)
            error_code, text = rng.choice(ERROR_CODES)
            history.add(
                "fail_activation",
                State.EMPTY,
                empty_since,
                actor=CORE_BANKING,
                channel=Channel.WEBHOOK,
                reason=f"激活失败：{error_code}（{text}）。",
                details={"error_code": error_code},
            )
            created_at = t_issue - _hours(rng, 2, 72)
        elif cause == EmptyCause.CUSTOMER_INCOMPLETE:
            t_issue = empty_since - window - _hours(rng, 0, 6)
            issue(t_issue)
            if rng.random() < 0.7:
                verify(t_issue + _hours(rng, 0.2, window_hours * 0.8))
            steps = _steps(rng, tier, rng.randrange(required), t_issue, empty_since)
            missing = "、".join(STEP_NAMES[step] for step in TIERS[tier].required_steps[len(steps) :])
            history.add(
                "mark_stalled",
                State.EMPTY,
                empty_since,
                actor=MONITOR,
                channel=Channel.JOB,
                reason=f"{window.days}天激活期限已过，仍未完成：{missing}。",
            )
            created_at = t_issue - _hours(rng, 2, 72)
        else:
            if rng.random() < 0.45:
                created_at = reach_active(empty_since - _hours(rng, 24, 15 * 24))
            else:
                t_verify = empty_since - _hours(rng, 0.2, 72)
                t_issue = t_verify - _hours(rng, 0.2, 48)
                issue(t_issue)
                if rng.random() < 0.5:
                    verify(t_verify)
                steps = _steps(rng, tier, rng.randint(0, required), t_issue, empty_since)
                created_at = t_issue - _hours(rng, 2, 72)
            history.add(
                "hold",
                State.EMPTY,
                empty_since,
                actor=SEED,
                channel=Channel.IMPORT,
                reason=f"风险冻结：{rng.choice(HOLD_REASONS)}。",
            )
    else:  # closed
        closed_at = now - _hours(rng, 1, 20 * 24)
        came_from = _weighted(rng, ((State.ACTIVE, 70), (State.APPROVED, 20), (State.ISSUED, 10)))
        if came_from == State.ACTIVE:
            created_at = reach_active(closed_at - _hours(rng, 48, 25 * 24))
        elif came_from == State.ISSUED:
            t_issue = closed_at - _hours(rng, 1, 5 * 24)
            issue(t_issue)
            steps = _steps(rng, tier, rng.randrange(required), t_issue, closed_at)
            created_at = t_issue - _hours(rng, 2, 72)
        else:
            created_at = closed_at - _hours(rng, 24, 10 * 24)
        history.add(
            "close",
            State.CLOSED,
            closed_at,
            actor=SEED,
            channel=Channel.IMPORT,
            reason=rng.choice(CLOSE_REASONS[came_from]),
        )

    tranche_plan = tranche_amounts(approved_limit, tier) if activated_at else []
    fields = {
        **_card(history.state, cause, number, issued_at, activated_at, is_drill),
        "state": history.state,
        "number": number,
        "product": product,
        "channel": _weighted(rng, CHANNELS),
        "approved_limit": approved_limit,
        "released_limit": tranche_plan[0] if tranche_plan else Decimal("0.00"),
        "empty_cause": cause,
        "empty_since": empty_since,
        "state_changed_at": history.events[-1][3] if history.events else created_at,
        "version": 1 + len(history.events),
        "issued_at": issued_at,
        "activation_due_at": activation_due(issued_at, tier) if issued_at else None,
        "activated_at": activated_at,
        "closed_at": closed_at,
        "last_error_code": error_code,
        "sms_verified_at": steps.get(Step.SMS_CODE),
        "password_set_at": steps.get(Step.PASSWORD),
        "credit_reviewed_at": steps.get(Step.CREDIT_REVIEW),
        "credit_reviewed_by_id": None,
        "is_drill": is_drill,
        "created_at": created_at,
    }
    return _AccountPlan(fields, history.events, tranche_plan)


def _card(
    state: str, cause: str, number: str, issued_at: datetime | None, activated_at: datetime | None, is_drill: bool
) -> dict[str, Any]:
    """The card core banking holds for a demo account in this state (drill accounts have none there)."""
    if issued_at is None or is_drill:
        return {"card_token": None, "card_state": "", "card_state_at": None}
    if state == State.CLOSED:
        card_state = CardState.TERMINATED
    elif state == State.EMPTY and cause == EmptyCause.RISK_HOLD:
        card_state = CardState.SUSPENDED
    elif state == State.ACTIVE:
        card_state = CardState.ACTIVE
    else:
        card_state = CardState.UNACTIVATED
    return {"card_token": f"CARD-{number}", "card_state": card_state, "card_state_at": activated_at or issued_at}


# Every column of an account but its id and customer, as ``_account`` plans them.
ACCOUNT_FIELDS = (
    "state", "number", "product", "channel", "approved_limit", "released_limit", "empty_cause", "empty_since",
    "state_changed_at", "version", "issued_at", "activation_due_at", "activated_at", "closed_at", "last_error_code",
    "sms_verified_at",
    "password_set_at", "credit_reviewed_at", "credit_reviewed_by_id", "is_drill", "created_at", "card_token",
    "card_state", "card_state_at",
)  # fmt: skip
AUDIT_COLUMNS = (
    "account_id", "transition", "from_state", "to_state", "actor_id", "actor_name", "requested_by_id", "channel",
    "reason", "details", "created_at",
)  # fmt: skip


def _next_number() -> int:
    highest = (
        LoanAccount.objects.filter(number__regex=rf"^{NUMBER_PREFIX}[0-9]{{10}}$")
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return max(NUMBER_BASE, int(highest[len(NUMBER_PREFIX) :]) if highest else 0) + 1


def demo_accounts_create(
    *,
    count: int,
    seed: int = 2026,
    is_drill: bool = False,
    batch_size: int = 5000,
    empty_share: float | None = None,
    states: tuple[tuple[str, int], ...] | None = None,
    causes: tuple[tuple[str, int], ...] | None = None,
) -> int:
    """Create `count` realistic customers+loan accounts in bulk; return how many accounts were created.

    ``empty_share`` sets the share of accounts in the empty-card state (the demo's default is
    about one in five, to give the board something to show; a large data set wants fewer).
    ``states`` and ``causes`` replace the weights of states and of empty causes altogether.
    """
    if count <= 0:
        return 0
    state_weights: tuple[tuple[str, int], ...] = STATE_WEIGHTS
    if empty_share is not None:
        others = [(state, weight) for state, weight in STATE_WEIGHTS if state != State.EMPTY]
        total = sum(weight for _state, weight in others)
        share = min(max(empty_share, 0.0), 0.9)
        state_weights = (*others, (State.EMPTY, round(total * share / (1 - share))))
    state_weights = states or state_weights
    with transaction.atomic():
        existing = LoanAccount.objects.count()
        rng = random.Random(seed + existing)  # noqa: S311 - demo data, reproducible on purpose
        taken_codes = set(Customer.objects.values_list("credit_code", flat=True))
        number = _next_number()
        now = timezone.now()
        account_values = operator.itemgetter(*ACCOUNT_FIELDS)
        created = 0
        # A large load into small tables (the bench's million) builds their indexes once, at the end.
        large = count >= max(BULK_LOAD, existing)
        with indexes_deferred(Customer, LoanAccount, Tranche, AuditEntry) if large else nullcontext():
            while created < count:
                target = min(batch_size, count - created)
                customers: list[Customer] = []
                plans: list[tuple[Customer, _AccountPlan]] = []
                while len(plans) < target:
                    customer = _customer(rng, taken_codes, is_drill)
                    customers.append(customer)
                    first_created = now
                    for _index in range(min(_weighted(rng, ACCOUNTS_PER_CUSTOMER), target - len(plans))):
                        plan = _account(
                            rng,
                            customer.risk_tier,
                            f"{NUMBER_PREFIX}{number:010d}",
                            now,
                            is_drill,
                            state_weights,
                            causes or CAUSE_WEIGHTS,
                        )
                        number += 1
                        plans.append((customer, plan))
                        first_created = min(first_created, plan.fields["created_at"])
                    customer.created_at = first_created - _hours(rng, 1, 20 * 24)
                bulk_insert(Customer, customers, with_ids=True)
                # Plain rows, with ids taken now: a million model instances would cost minutes.
                account_ids = reserve_ids(LoanAccount, len(plans))
                insert_rows(
                    LoanAccount,
                    ("id", "customer_id", *ACCOUNT_FIELDS),
                    [
                        (pk, customer.pk, *account_values(plan.fields))
                        for pk, (customer, plan) in zip(account_ids, plans, strict=True)
                    ],
                )
                insert_rows(
                    Tranche,
                    ("account_id", "sequence", "amount", "status", "released_at"),
                    [
                        (
                            pk,
                            sequence,
                            amount,
                            Tranche.Status.RELEASED if sequence == 1 else Tranche.Status.PLANNED,
                            plan.fields["activated_at"] if sequence == 1 else None,
                        )
                        for pk, (_owner, plan) in zip(account_ids, plans, strict=True)
                        for sequence, amount in enumerate(plan.tranches, start=1)
                    ],
                )
                insert_rows(
                    AuditEntry,
                    AUDIT_COLUMNS,
                    [
                        (pk, action, from_state, to_state, None, actor, None, channel, reason, details, at)
                        for pk, (_owner, plan) in zip(account_ids, plans, strict=True)
                        for action, from_state, to_state, at, actor, channel, reason, details in plan.events
                    ],
                )
                created += len(plans)
    return created
