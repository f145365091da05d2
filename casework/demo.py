"""Demo casework, in bulk: open the empty accounts' cases, put some in motion, add resolved history.

Writes rows directly (``portal.bulk``), as the services would have left them, so that a
hundred thousand cases load in seconds; it never runs on data people work with.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import cast

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Mod
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.demo import CAUSE_WEIGHTS
from accounts.models import EmptyCause, LoanAccount, State
from casework.models import (
    Case,
    CaseEvent,
    CaseStudy,
    ChecklistItem,
    CustomerFeedback,
    Playbook,
    PlaybookRevision,
    Resolution,
    SlaPolicy,
    Status,
)
from casework.playbooks import playbook_revision_accept, playbook_revision_propose
from casework.policy import DEPARTMENT_FOR_CAUSE, priority_of
from casework.services import FALLBACK_SLA, cases_open_bulk
from portal.actors import Actor, person_name
from portal.bulk import bulk_insert

WORKERS = {"service": "service", "tech": "tech", "credit": "credit"}
SEED = Actor.system("seed_demo", "job")
# How long after opening a case was first assigned, in minutes: most quickly, some slowly.
ASSIGN_DELAYS = (10, 25, 45, 90, 240, 600)
CHUNK = 5000


def _people() -> tuple[User | None, dict[str, User]]:
    users = {user.username: user for user in User.objects.filter(username__in=["lead", *WORKERS.values()])}
    return users.get("lead"), {department: users[name] for department, name in WORKERS.items() if name in users}


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[index : index + CHUNK] for index in range(0, len(ids), CHUNK)]


def _put_in_motion(rng: random.Random, lead: User, workers: dict[str, User]) -> None:
    """Assign about half of the new real cases to their department's worker; start or park some."""
    now = timezone.now()
    for department, worker in workers.items():
        rows = list(
            Case.objects.filter(department_id=department, status=Status.NEW, is_drill=False)
            .order_by("pk")
            .values_list("pk", "opened_at")
        )
        chosen = [(pk, opened) for pk, opened in rows if rng.random() < 0.5]
        by_delay: dict[int, list[int]] = {}
        events = []
        for pk, opened in chosen:
            delay = rng.choice(ASSIGN_DELAYS)
            if opened + timedelta(minutes=delay) > now:
                continue
            by_delay.setdefault(delay, []).append(pk)
            events.append(
                CaseEvent(
                    case_id=pk, kind=CaseEvent.Kind.ASSIGNMENT, actor=lead, actor_name=person_name(lead),
                    text=f"Assigned to {person_name(worker)}.",
                    from_status=Status.NEW, to_status=Status.ASSIGNED, created_at=opened + timedelta(minutes=delay),
                )
            )  # fmt: skip
        for delay, ids in by_delay.items():
            for chunk in _chunks(ids):
                # Straight to the table: the status machine is for people, this is loaded history.
                Case.objects.filter(pk__in=chunk).update(
                    status=Status.ASSIGNED,
                    assignee=worker,
                    first_assigned_at=F("opened_at") + timedelta(minutes=delay),
                    version=F("version") + 1,
                )
        bulk_insert(CaseEvent, events)
        assigned = [pk for ids in by_delay.values() for pk in ids]
        started = [pk for pk in assigned if rng.random() < 0.6]
        parked = [pk for pk in started if rng.random() < 0.4]
        for chunk in _chunks(started):
            Case.objects.filter(pk__in=chunk).update(status=Status.IN_PROGRESS, version=F("version") + 1)
        for chunk in _chunks(parked):
            Case.objects.filter(pk__in=chunk).update(
                status=Status.WAITING_CUSTOMER, sla_paused_at=now - timedelta(hours=2), version=F("version") + 1
            )


def demo_history_create(count: int, *, seed: int = 2026) -> int:
    """``count`` closed cases on active accounts: problems fixed in the past, with their times.

    They feed the figures that look back (time to resolution, the team's pace). Accounts are
    taken evenly over the active ones; each case resolved when its account activated.
    """
    if count <= 0:
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible on purpose
    lead, workers = _people()
    slas = {policy.priority: (policy.time_to_assign, policy.time_to_resolve) for policy in SlaPolicy.objects.all()}
    books = list(Playbook.objects.prefetch_related("steps"))
    playbooks = {playbook.cause: list(playbook.steps.all()) for playbook in books}
    versions = {playbook.cause: playbook.version for playbook in books}
    active = LoanAccount.objects.filter(state=State.ACTIVE, is_drill=False, activated_at__isnull=False)
    total = active.count()
    if not total:
        return 0
    # Every stride-th active account, chosen in the database: only the rows needed travel.
    stride = max(1, total // count)
    chosen = (
        active.alias(slot=Mod("id", stride))
        .filter(slot=0)
        .order_by("pk")
        .values_list("pk", "activated_at", "approved_limit", "customer__risk_tier")
    )
    now = timezone.now()
    created = after_pk = 0
    with transaction.atomic():
        while created < count:
            rows = list(chosen.filter(pk__gt=after_pk)[: min(CHUNK, count - created)])
            if not rows:
                break
            after_pk = rows[-1][0]
            cases, checklist, events = [], [], []
            for account_id, activated, limit, tier in rows:
                resolved = cast(datetime, activated)  # the query asks for activated accounts only
                cause = rng.choices([c for c, _w in CAUSE_WEIGHTS], [w for _c, w in CAUSE_WEIGHTS])[0]
                department = DEPARTMENT_FOR_CAUSE[cause]
                priority = priority_of(tier, limit)
                to_assign, to_resolve = slas.get(priority, FALLBACK_SLA)
                opened = resolved - timedelta(hours=rng.uniform(0.5, 96))
                assigned = opened + (resolved - opened) * rng.uniform(0.02, 0.3)
                worker = workers.get(department)
                closed = resolved + timedelta(days=1)
                case = Case(
                    account_id=account_id, cause=cause, department_id=department, priority=priority,
                    status=Status.CLOSED if closed < now else Status.RESOLVED, assignee=worker,
                    opened_at=opened, first_assigned_at=assigned, resolved_at=resolved,
                    closed_at=closed if closed < now else None, assign_due_at=opened + to_assign,
                    resolve_due_at=opened + to_resolve, version=4, resolution=Resolution.FIXED,
                    playbook_version=versions.get(cause),
                )  # fmt: skip
                cases.append(case)
            bulk_insert(Case, cases, with_ids=True)
            for case in cases:
                checklist += [
                    ChecklistItem(
                        case=case,
                        position=step.position,
                        text=step.text,
                        done_at=case.resolved_at,
                        done_by_id=case.assignee_id,
                    )
                    for step in playbooks.get(case.cause, [])
                ]
                label = EmptyCause(case.cause).label
                events += [
                    CaseEvent(case=case, kind=CaseEvent.Kind.OPENED, actor_name=SEED.name, to_status=Status.NEW,
                              text=f"Opened: the account went to the empty-card state ({label}).",
                              created_at=case.opened_at),
                    CaseEvent(case=case, kind=CaseEvent.Kind.ASSIGNMENT, actor=lead,
                              actor_name=person_name(lead) if lead else SEED.name, from_status=Status.NEW,
                              to_status=Status.ASSIGNED, text="Assigned.",
                              created_at=cast(datetime, case.first_assigned_at)),
                    CaseEvent(case=case, kind=CaseEvent.Kind.STATUS, actor_name="core-banking",
                              from_status=Status.ASSIGNED, to_status=Status.RESOLVED,
                              text="Resolved: the account is active.", created_at=cast(datetime, case.resolved_at)),
                ]  # fmt: skip
            bulk_insert(ChecklistItem, checklist)
            bulk_insert(CaseEvent, events)
            created += len(cases)
    return created


def demo_cases_create(*, seed: int = 2026, history: int = 0) -> int:
    """Open missing cases, put about half of the new ones in motion, and add ``history`` closed ones."""
    opened = cases_open_for_empty_accounts(actor=SEED)
    lead, workers = _people()
    if opened and lead is not None:
        _put_in_motion(random.Random(seed), lead, workers)  # noqa: S311 - demo data
    demo_history_create(history, seed=seed)
    return opened


# The two cases of the article the product grew from, told as case studies (in Chinese, as the
# staff write them).
DEMO_STUDIES = (
    {
        "title": "某科技公司财务人员未完成激活：及时发现，顺利放款",
        "cause": EmptyCause.CUSTOMER_INCOMPLETE,
        "outcome": CaseStudy.Outcome.SUCCESS,
        "source_label": "深圳福田支行 · 项目融资",
        "summary": (
            "某科技公司因项目扩展申请贷款，财务人员收到激活通知后一直未设置密码，"
            "贷款账户在计划提款前处于空卡状态长达九天。"
        ),
        "root_cause": "激活通知发到了无人负责的财务公共邮箱，合同中也未写明激活是客户需要完成的步骤。",
        "what_worked": "第七天的提醒促使公司来电；客服专员电话指导财务负责人完成短信验证码和密码设置，贷款按时提取。",
        "what_to_change": "签约时请客户指定激活联系人，并在合同中写明激活步骤。",
    },
    {
        "title": "某制造企业因系统配置错误未激活：客户流失",
        "cause": EmptyCause.SYSTEM_CONFIG,
        "outcome": CaseStudy.Outcome.PROBLEM,
        "source_label": "设备购置贷款 · 支行渠道",
        "summary": (
            "一家制造企业申请设备购置贷款，因产品配置中缺少支行渠道，贷记卡一直未被激活；"
            "企业未能按时提款，生产计划受到影响，最终转向其他渠道融资。"
        ),
        "root_cause": "一次产品发布把支行渠道从配置表中删除，该渠道的每一次激活都失败，而无人关注失败率。",
        "what_worked": "问题查明后，一次批量重新激活在一小时内激活了所有受阻账户。",
        "what_to_change": "对各渠道的空卡数量进行7×24小时监控（异常检测），第一时间转交技术部，并当天告知客户进展。",
    },
)


# Complaints as service agents hear them (in Chinese, as they write them down), with their category.
DEMO_FEEDBACK = (
    ("phone", "activation_not_received", "medium", "客户来电称一直没有收到激活短信，计划下周提款，希望尽快处理。"),
    ("branch", "cannot_set_password", "low", "客户财务人员在网点反映设置密码时页面报错，已协助重试。"),
    ("online", "activation_not_received", "high", "客户在手机银行留言：验证码过期后再也收不到新的，非常着急。"),
    ("sms_reply", "other", "low", "客户回复短信询问激活需要哪些步骤。"),
    ("phone", "cannot_set_password", "medium", "客户称密码设置成功后仍提示未激活。"),
)


def demo_feedback_create(count: int = 8, *, seed: int = 2026) -> int:
    """``count`` complaints on open customer-service cases over the past weeks, most of them answered.

    Written as the services would have left them (the complaint, its timeline line, the contact
    that answered it), so that the dashboard's complaint figures have data on a fresh desk.
    """
    service = User.objects.filter(username=WORKERS["service"]).first()
    if service is None or CustomerFeedback.objects.filter(is_drill=False).exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible on purpose
    now = timezone.now()
    cases = list(
        Case.objects.open()
        .filter(is_drill=False, cause=EmptyCause.CUSTOMER_INCOMPLETE, opened_at__lt=now - timedelta(hours=6))
        .order_by("pk")[:count]
    )
    feedback, events = [], []
    for case in cases:
        channel, category, severity, text = rng.choice(DEMO_FEEDBACK)
        recorded = case.opened_at + (now - case.opened_at) * rng.uniform(0.1, 0.6)
        answered = recorded + timedelta(hours=rng.uniform(0.5, 30))
        first_response = answered if answered < now and rng.random() < 0.75 else None
        feedback.append(
            CustomerFeedback(
                account_id=case.account_id, case=case, channel=channel, category=category, severity=severity,
                text=text, recorded_by=service, recorded_by_name=person_name(service), recorded_at=recorded,
                first_response_at=first_response,
            )
        )  # fmt: skip
        line = _("Customer feedback (%(category)s, %(severity)s, by %(channel)s): %(text)s") % {
            "category": CustomerFeedback.Category(category).label,
            "severity": CustomerFeedback.Severity(severity).label,
            "channel": CustomerFeedback.Channel(channel).label,
            "text": text,
        }
        events.append(
            CaseEvent(case=case, kind=CaseEvent.Kind.FEEDBACK, actor=service, actor_name=person_name(service),
                      text=line, created_at=recorded)
        )  # fmt: skip
        if first_response is not None:
            events.append(
                CaseEvent(case=case, kind=CaseEvent.Kind.CONTACT, actor=service, actor_name=person_name(service),
                          text="电话联系客户，已说明处理进度。", created_at=first_response)
            )  # fmt: skip
    with transaction.atomic():
        CustomerFeedback.objects.bulk_create(feedback)
        bulk_insert(CaseEvent, events)
    return len(feedback)


def demo_studies_create(author: User) -> int:
    """The demo's case studies, once."""
    if CaseStudy.objects.exists():
        return 0
    CaseStudy.objects.bulk_create(
        CaseStudy(**study, author=author, author_name=person_name(author)) for study in DEMO_STUDIES
    )
    return len(DEMO_STUDIES)


# What the configuration-fault study taught, as the lead wrote it into the playbook (version 2).
DEMO_PLAYBOOK_STEP = "每天查看各渠道空卡数量的异常告警；同一渠道多笔失败时当天开立故障事件，并告知客户进展"


def demo_playbook_change_create(lead: User, approver: User) -> int:
    """The configuration-fault study's lesson as the system-config playbook's version 2, once."""
    study = CaseStudy.objects.filter(cause=EmptyCause.SYSTEM_CONFIG, outcome=CaseStudy.Outcome.PROBLEM).first()
    playbook = Playbook.objects.filter(cause=EmptyCause.SYSTEM_CONFIG, version=1).first()
    if study is None or playbook is None or PlaybookRevision.objects.exists():
        return 0
    steps = list(playbook.steps.values_list("text", flat=True))
    revision = playbook_revision_propose(
        user=lead, study=study, steps=[steps[0], DEMO_PLAYBOOK_STEP, *steps[1:]], note=study.what_to_change
    )
    playbook_revision_accept(user=approver, revision_id=revision.pk, note="同意，已通知各支行。")
    return 1


def cases_open_for_empty_accounts(*, actor: Actor, batch_size: int = 2000) -> int:
    """Open the missing case of every empty account (in bulk): for data loaded without the services.

    Accounts that already have an open case for their cause are left alone, so this is safe
    to run again.
    """
    created = after_pk = 0
    missing = (
        LoanAccount.objects.filter(state=State.EMPTY)
        .exclude(Exists(Case.objects.open().filter(account=OuterRef("pk"), cause=OuterRef("empty_cause"))))
        .select_related("customer")
        .order_by("pk")
    )
    while True:
        accounts = list(missing.filter(pk__gt=after_pk)[:batch_size])
        if not accounts:
            return created
        after_pk = accounts[-1].pk
        with transaction.atomic():
            created += len(cases_open_bulk(accounts=accounts, actor=actor, backdate=True))
