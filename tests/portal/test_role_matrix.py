"""Who may do what, page by page: every URL pattern × every role × GET and POST, in one table.

OWASP ASVS V8 (authorization): ``MATRIX`` is the portal's access-control policy as a visitor
meets it. Each row is one URL pattern; its two strings say what a GET and a POST answer each of
the seven visitors of ``VISITORS`` (anonymous, then the six roles of ``portal.roles.ROLES``). The
objects the URLs name are real (``World``), so "ok" means the view ran, not a 404 for an id that
does not exist; the account and the case are the credit department's, so the cross-department
rule shows in the service agent's column.

A new URL pattern fails ``test_every_url_pattern_has_a_row`` until its row is written here, and
so does a row whose pattern is gone. The Django admin's and django-rq's generated pages share
one row per family (``admin:``, ``django_rq:``); one of theirs that answers otherwise has its own
row, which wins.

A failing row prints the row as observed, ready to paste: paste it only once you have checked
that the new answer is the right one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module
from typing import Any

import django_rq
import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import transaction
from django.db.models import Model
from django.http import HttpResponseBase
from django.test import Client, override_settings
from django.test.client import ClientHandler
from django.urls import get_resolver, reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rq import SimpleWorker, Worker
from rq.cron import CronScheduler

from accounts.models import (
    ApprovalRequest,
    CoreEvent,
    CreditReviewProposal,
    EmptyCause,
    ImportRun,
    LoanAccount,
    ReconciliationRun,
    State,
    Tranche,
)
from accounts.services import Actor, account_decide, approval_request_create
from accounts.verification import link_create
from casework.incidents import incident_create, incident_resolve
from casework.models import Case, CaseStudy, ChecklistItem, Drill, Incident, PlaybookRevision, ReactivationBatch
from casework.playbooks import playbook_revision_propose
from casework.services import case_link_incident, case_open_for_account
from portal import roles
from portal.models import JobHeartbeat, Notice, SecurityEvent
from portal.sessions import LAST_ACTIVITY, REAUTH_AT, SIGNED_IN_AT, now_seconds
from tests.factories import make_account, make_staff
from tests.portal.test_access import example_url, walk

# What a visitor gets, one letter per visitor and method:
#   o  ok: the view ran (2xx; a redirect that is not to a sign-in page; 400 for a POST without its fields)
#   l  sent to the portal's sign-in page (``/login/?next=``)
#   a  sent to the admin's sign-in page (``/admin/login/?next=``): the admin and the RQ dashboard, to non-admins
#   f  403: the role may not do this
#   n  404: not there *for this visitor* (a case outside their departments, a customer outside their cases)
#   m  405: the wrong method (GET on a form's action, POST on a page that only shows)
#   u  401: a machine endpoint, without its credential
#   *  only in the rows of the admin's and the RQ dashboard's generated pages, for the admin: the admin
#      site's own answer, page by page: o, f where it keeps a model read-only (append-only records, what
#      core banking decided, device secrets), m for the wrong method, n for a missing object; never a
#      sign-in page, never a 500
# Anything else (a 500, a 409, a 400 on a GET) has no letter: it is never expected.
VISITORS = ("anonymous", *(role.slug for role in roles.ROLES))
ADMIN_FAMILY, RQ_FAMILY = "admin:", "django_rq:"

# fmt: off
MATRIX: dict[str, tuple[str, str]] = {
    #                                  GET         POST
    #                                  _ STCLWA    _ STCLWA     _ anonymous, S service agent, T tech engineer,
    #                                                           C credit officer, L team lead, W auditor, A admin
    # Signing in and out, one's own profile and second factor: everyone, for themselves.
    "login":                          ("o oooooo", "o oooooo"),  # signed in: on to the dashboard
    "second_factor":                  ("l oooooo", "l oooooo"),  # no second step owed: on to the page
    "second_factor_enrol":            ("l oooooo", "l oooooo"),
    "logout":                         ("l mmmmmm", "l oooooo"),
    "confirm":                        ("l oooooo", "l oooooo"),
    "profile":                        ("l oooooo", "l mmmmmm"),
    "sign_out_everywhere":            ("l mmmmmm", "l oooooo"),
    "backup_codes":                   ("l mmmmmm", "l oooooo"),
    "password_change":                ("l oooooo", "l oooooo"),
    # One's own staff notifications (通知): the inbox, the header's bell, one's choices.
    "notices":                        ("l oooooo", "l mmmmmm"),
    "notice_bell":                    ("l oooooo", "l mmmmmm"),  # polled by htmx
    "notices_read_all":               ("l mmmmmm", "l oooooo"),
    "notice_read":                    ("l mmmmmm", "l nnnonn"),  # the lead's notice: anyone else's is not found
    "notice_preferences":             ("l mmmmmm", "l oooooo"),
    "language":                       ("m mmmmmm", "o oooooo"),  # the login page's switcher too
    # Machines and customers: no staff login.
    "healthz":                        ("o oooooo", "m mmmmmm"),
    "readyz":                         ("o oooooo", "m mmmmmm"),
    "core_events":                    ("m mmmmmm", "u uuuuuu"),  # the HMAC signature is the credential
    "activate":                       ("o oooooo", "m mmmmmm"),
    "activate_send_code":             ("m mmmmmm", "o oooooo"),
    "activate_verify_code":           ("m mmmmmm", "o oooooo"),
    "activate_set_password":          ("m mmmmmm", "o oooooo"),
    # What everyone who works in the portal reads.
    "dashboard":                      ("l oooooo", "l mmmmmm"),
    "jobs":                           ("l oooooo", "l mmmmmm"),
    "weekly_report":                  ("l oooooo", "l mmmmmm"),
    "batch":                          ("l oooooo", "l mmmmmm"),
    "accounts:list":                  ("l oooooo", "l mmmmmm"),
    "accounts:detail":                ("l oooooo", "l mmmmmm"),  # any account, its personal data masked
    "accounts:approvals":             ("l oooooo", "l mmmmmm"),
    "accounts:reviews":               ("l oooooo", "l mmmmmm"),
    "casework:list":                  ("l oooooo", "l mmmmmm"),
    "casework:board":                 ("l oooooo", "l mmmmmm"),
    "casework:mine":                  ("l oooooo", "l mmmmmm"),
    "casework:incidents":             ("l oooooo", "l mmmmmm"),
    "casework:incident":              ("l oooooo", "l mmmmmm"),
    "casework:drills":                ("l oooooo", "l mmmmmm"),
    "casework:drill":                 ("l oooooo", "l mmmmmm"),
    "casework:playbook":              ("l oooooo", "l mmmmmm"),
    "studies:list":                   ("l oooooo", "l mmmmmm"),
    "studies:detail":                 ("l oooooo", "l mmmmmm"),
    "casework:playbook_revision":     ("l oooooo", "l mmmmmm"),
    # The audit trail: auditors and admins.
    "audit":                          ("l ffffoo", "l mmmmmm"),
    "audit <trail>":                  ("l ffffoo", "l mmmmmm"),
    # Decisions on an account (posted with a reason and the version): each role its own.
    "accounts:action":                ("l mmmmmm", "l ffoofo"),  # releasing the hold: credit
    "accounts:request_approval":      ("l mmmmmm", "l ffoofo"),  # four-eyes: credit asks...
    "accounts:approval_decide":       ("l mmmmmm", "l ffoofo"),  # ...and another credit officer decides
    "accounts:credit_review":         ("l mmmmmm", "l ffoofo"),
    "accounts:review_decide":         ("l mmmmmm", "l ffoofo"),
    "accounts:resend_activation":     ("l mmmmmm", "l offofo"),  # service
    "accounts:reveal":                ("l mmmmmm", "l nfoofo"),  # service: their cases' customers only
    "accounts:import":                ("l ffoofo", "l ffoofo"),
    "accounts:import_run":            ("l ffoofo", "l mmmmmm"),
    "accounts:import_errors":         ("l ffoofo", "l mmmmmm"),
    # The credit case: its department (credit, the lead) works it, the auditor reads it, others never see it.
    "casework:detail":                ("l nnoooo", "l mmmmmm"),
    "casework:move":                  ("l mmmmmm", "l nnoofo"),
    "casework:take":                  ("l mmmmmm", "l nnoofo"),
    "casework:board_move":            ("l mmmmmm", "l nnoofo"),  # a card dragged or moved from its menu
    "casework:comment":               ("l mmmmmm", "l nnoofo"),
    "casework:feedback_case":         ("l mmmmmm", "l nnfofo"),  # service and leads (and admins), on a case they see
    "casework:feedback_account":      ("l mmmmmm", "l offofo"),  # customer feedback: service and leads
    "casework:feedback":              ("l oooooo", "l mmmmmm"),
    "casework:contact":               ("l mmmmmm", "l nnoofo"),
    "casework:tick":                  ("l mmmmmm", "l nnoofo"),
    "casework:handoff":               ("l mmmmmm", "l nnoofo"),
    "casework:link_incident":         ("l mmmmmm", "l nnoofo"),
    # Leads (and admins): assigning, the team, drills, case studies.
    "casework:assign":                ("l mmmmmm", "l fffofo"),
    "casework:team":                  ("l fffofo", "l mmmmmm"),
    "casework:drill_new":             ("l fffofo", "l fffofo"),
    "casework:drill_end":             ("l mmmmmm", "l fffofo"),
    "casework:drill_purge":           ("l mmmmmm", "l fffofo"),
    "studies:new":                    ("l fffofo", "l fffofo"),
    "studies:edit":                   ("l fffofo", "l fffofo"),
    # Playbook changes: a lead proposes from a case study, another lead (or an admin) decides.
    "studies:propose":                ("l fffofo", "l fffofo"),
    "casework:playbook_revision_accept": ("l mmmmmm", "l fffofo"),
    "casework:playbook_revision_reject": ("l mmmmmm", "l fffofo"),
    # Tech and leads (and admins): incidents and re-drives.
    "casework:incident_new":          ("l fofofo", "l fofofo"),
    "casework:incident_resolve":      ("l mmmmmm", "l fofofo"),
    "casework:incident_redrive":      ("l mmmmmm", "l fofofo"),
    "redrive":                        ("l mmmmmm", "l fofofo"),
    "batch_cancel":                   ("l mmmmmm", "l fofofo"),
    # The Django admin and the RQ dashboard: admins only, the others are sent to the admin's sign-in.
    # Every generated page is checked against its family's row; these few answer otherwise.
    ADMIN_FAMILY:                     ("l aaaaa*", "l aaaaa*"),  # the model pages
    "admin:index":                    ("a aaaaao", "a aaaaao"),
    "admin:app_list":                 ("a aaaaao", "a aaaaao"),
    "admin:view_on_site":             ("a aaaaao", "a aaaaao"),
    "admin:password_change":          ("a aaaaao", "a aaaaao"),
    "admin:password_change_done":     ("a aaaaao", "a aaaaam"),
    "admin:jsi18n":                   ("a aaaaao", "a aaaaam"),
    "admin:autocomplete":             ("a aaaaaf", "a aaaaam"),  # 403 without its query: Django's answer
    "admin:login":                    ("l fffffo", "l fffffo"),  # no password form: the portal's two steps
    "admin:logout":                   ("a ooooom", "a oooooo"),  # non-admins: to the admin's index, still signed in
    "admin/<url>":                    ("a aaaaan", "a aaaaan"),  # the admin's catch-all
    RQ_FAMILY:                        ("a aaaaa*", "a aaaaa*"),  # the RQ dashboard at /django-rq/
    "django_rq:home_json":            ("l uuuuuo", "l uuuuuo"),  # JSON: 401 without the API token (none is set)
    "django_rq:home_json <token>":    ("l uuuuuo", "l uuuuuo"),
    # rq-scheduler's page: the portal's periodic jobs run on RQ's cron instead, so not found.
    "rq_scheduler_absent":            ("a aaaaan", "a aaaaan"),
    "django_rq:scheduler_jobs":       ("a aaaaan", "a aaaaan"),  # the same address, answered by the row above
}
# fmt: on


@dataclass(frozen=True)
class World:
    """One of everything a URL can name, each a real row the views find, and a sign-in per role."""

    staff: dict[str, User | None]  # by visitor; None for anonymous
    sessions: dict[str, dict[str, Any]]  # a signed-in session's data, by visitor (none for anonymous)
    credit_account: LoanAccount  # on risk hold, with a credit case only: its customer is in no service case
    service_account: LoanAccount  # the customer did not finish their steps: a service case
    review_account: LoanAccount  # high risk, verifying: waits for a credit officer's review
    credit_case: Case
    service_case: Case
    checklist_item: ChecklistItem  # the credit case's
    incident: Incident  # open, with a tech case whose account can be re-driven
    incident_without_cases: Incident  # open, nothing in the way of resolving it
    resolved_incident: Incident  # a case study can be written from it
    drill: Drill  # running
    ended_drill: Drill  # its data can be purged
    study: CaseStudy
    revision: PlaybookRevision  # proposed by the admin from the study: the lead may decide it
    import_run: ImportRun
    batch: ReactivationBatch
    approval: ApprovalRequest  # a release of another account's hold, asked by a second credit officer
    proposal: CreditReviewProposal
    activation_token: str  # the service account's link: the credit account's is void while on hold


def lead_notice(world: World) -> Notice:
    """A staff notification of the team lead's, about the credit case."""
    notice, _created = Notice.objects.get_or_create(
        recipient=world.staff["team_lead"],
        dedupe_key="role-matrix",
        defaults={"kind": "case_assigned", "params": {"case": world.credit_case.pk}, "url": "/"},
    )
    return notice


def account_form(account: Callable[[World], LoanAccount]) -> Callable[[World], dict[str, Any]]:
    """The form of an action on the account page: a reason, and the version the user saw."""
    return lambda world: {"reason": "checked with the customer", "version": account(world).version}


FEEDBACK = {"channel": "phone", "category": "credit_frozen", "severity": "medium", "text": "customer asks why"}
# The rows posted with their form filled in, so that "o" means the action was taken, not a form sent back.
POST_DATA: dict[str, Callable[[World], dict[str, Any]]] = {
    "accounts:action": account_form(lambda w: w.credit_account),
    "accounts:request_approval": account_form(lambda w: w.credit_account),
    "accounts:credit_review": account_form(lambda w: w.review_account),
    "accounts:resend_activation": account_form(lambda w: w.service_account),
    "accounts:approval_decide": lambda w: {"note": "not enough evidence yet"},
    "accounts:reveal": lambda w: {"field": "mobile", "reason": "customer asked for a call back"},
    "casework:feedback_case": lambda w: FEEDBACK,
    "casework:feedback_account": lambda w: FEEDBACK,
}

# The URL kwargs of each row that has some (the generated pages' come from ``family_kwargs``), and a query.
KWARGS: dict[str, Callable[[World], dict[str, Any]]] = {
    "audit <trail>": lambda w: {"trail": "accounts"},
    "batch": lambda w: {"pk": w.batch.pk},
    "notice_read": lambda w: {"pk": lead_notice(w).pk},
    "batch_cancel": lambda w: {"pk": w.batch.pk},
    "accounts:approval_decide": lambda w: {"pk": w.approval.pk, "decision": "reject"},
    "accounts:import_run": lambda w: {"pk": w.import_run.pk},
    "accounts:import_errors": lambda w: {"pk": w.import_run.pk},
    "accounts:review_decide": lambda w: {"pk": w.proposal.pk, "decision": "dismiss"},
    "accounts:detail": lambda w: {"number": w.credit_account.number},
    "accounts:reveal": lambda w: {"number": w.credit_account.number},
    "accounts:credit_review": lambda w: {"number": w.review_account.number},
    "accounts:resend_activation": lambda w: {"number": w.service_account.number},
    "accounts:request_approval": lambda w: {"number": w.credit_account.number, "action": "request_release"},
    "accounts:action": lambda w: {"number": w.credit_account.number, "action": "release_hold"},
    "activate": lambda w: {"token": w.activation_token},
    "activate_send_code": lambda w: {"token": w.activation_token},
    "activate_verify_code": lambda w: {"token": w.activation_token},
    "activate_set_password": lambda w: {"token": w.activation_token},
    "casework:incident": lambda w: {"pk": w.incident.pk},
    "casework:incident_redrive": lambda w: {"pk": w.incident.pk},
    "casework:incident_resolve": lambda w: {"pk": w.incident_without_cases.pk},
    "casework:drill": lambda w: {"pk": w.drill.pk},
    "casework:drill_end": lambda w: {"pk": w.drill.pk},
    "casework:drill_purge": lambda w: {"pk": w.ended_drill.pk},
    "casework:playbook": lambda w: {"cause": EmptyCause.RISK_HOLD},
    "casework:detail": lambda w: {"pk": w.credit_case.pk},
    "casework:move": lambda w: {"pk": w.credit_case.pk, "move": "start"},
    "casework:take": lambda w: {"pk": w.credit_case.pk},
    "casework:board_move": lambda w: {"pk": w.credit_case.pk},
    "casework:comment": lambda w: {"pk": w.credit_case.pk},
    "casework:feedback_case": lambda w: {"pk": w.credit_case.pk},
    "casework:feedback_account": lambda w: {"number": w.credit_account.number},
    "casework:contact": lambda w: {"pk": w.credit_case.pk},
    "casework:tick": lambda w: {"pk": w.credit_case.pk, "item_id": w.checklist_item.pk},
    "casework:handoff": lambda w: {"pk": w.credit_case.pk},
    "casework:link_incident": lambda w: {"pk": w.credit_case.pk},
    "studies:detail": lambda w: {"pk": w.study.pk},
    "studies:edit": lambda w: {"pk": w.study.pk},
    "studies:propose": lambda w: {"pk": w.study.pk},
    "casework:playbook_revision": lambda w: {"pk": w.revision.pk},
    "casework:playbook_revision_accept": lambda w: {"pk": w.revision.pk},
    "casework:playbook_revision_reject": lambda w: {"pk": w.revision.pk},
}
QUERY: dict[str, Callable[[World], str]] = {
    "studies:new": lambda w: f"?incident={w.resolved_incident.pk}",
}


# --- the URL patterns -----------------------------------------------------------------------------


def _groups(regex: str) -> list[str]:
    return re.findall(r"\(\?P<(\w+)>", regex)


def _route(regex: str) -> str:
    """``admin/auth/group/(?P<object_id>.+)/\\Z`` as ``admin/auth/group/<object_id>/``."""
    return re.sub(r"\\Z|\$|\\", "", re.sub(r"\(\?P<(\w+)>[^)]*\)\??", r"<\1>", regex))


@dataclass(frozen=True)
class Pattern:
    key: str  # its row: the URL name, with its kwargs when two patterns share the name; else its route
    name: str
    regex: str

    @property
    def admin_model(self) -> type[Model] | None:
        """The model of an admin page (``admin:accounts_loanaccount_change``, ``admin/accounts/loanaccount/<id>/``)."""
        for model in admin.site._registry:
            app_label, model_name = model._meta.app_label, model._meta.model_name
            if self.name.startswith(f"{ADMIN_FAMILY}{app_label}_{model_name}_") or (
                not self.name and self.regex.startswith(f"admin/{app_label}/{model_name}/")
            ):
                return model
        return None

    @property
    def family(self) -> str | None:
        """The generated pages' row: the admin's (its model pages and its own), or the RQ dashboard's."""
        if self.admin_model is not None:
            return ADMIN_FAMILY
        if self.name.startswith((RQ_FAMILY, "admin:django_rq_")):
            return RQ_FAMILY  # the RQ dashboard, at /django-rq/ and again inside the admin
        if self.name.startswith(ADMIN_FAMILY) or self.regex.startswith("admin/"):
            return ADMIN_FAMILY
        return None

    @property
    def expected(self) -> tuple[str, str] | None:
        return MATRIX.get(self.key) or (MATRIX.get(self.family) if self.family else None)

    def path(self, kwargs: dict[str, Any]) -> str:
        if self.name:
            return reverse(self.name, kwargs=kwargs)
        return "/" + re.sub(r"<(\w+)>", lambda match: str(kwargs[match[1]]), _route(self.regex))


@functools.cache
def url_patterns() -> dict[str, Pattern]:
    """Every pattern of the project, however deeply included, by its key in the table."""
    found = list(walk(get_resolver().url_patterns))
    names = [name for _regex, name in found]
    patterns = {}
    for regex, name in found:
        if not name:
            key = _route(regex)
        elif names.count(name) > 1 and _groups(regex):
            key = f"{name} <{','.join(_groups(regex))}>"
        else:
            key = name
        patterns[key] = Pattern(key, name, regex)
    assert len(patterns) == len(found), "two URL patterns with the same key"
    return patterns


# --- the world ------------------------------------------------------------------------------------

# Each role's login, as the fixtures of tests/conftest.py make them.
LOGINS = {
    roles.SERVICE_AGENT.slug: ("service", ["service"]),
    roles.TECH_ENGINEER.slug: ("tech", ["tech"]),
    roles.CREDIT_OFFICER.slug: ("credit", ["credit"]),
    roles.TEAM_LEAD.slug: ("lead", ["credit", "service", "tech"]),
    roles.AUDITOR.slug: ("auditor", []),
    roles.ADMIN.slug: ("admin", []),
}


def _rows_for_the_admin(credit: User, credit2: User, account: LoanAccount) -> None:
    """A row of each admin model the world has none of otherwise, so that its admin pages show one."""
    issued = make_account(State.APPROVED)
    account_decide(account_id=issued.pk, transition_name="issue", actor=Actor.staff(credit), reason="approved line")
    Tranche.objects.create(account=account, sequence=1, amount=Decimal("300000.00"))
    CoreEvent.objects.create(
        event_id="evt-role-matrix", event_type="card.issued", account=issued, payload={}, outcome="applied"
    )
    ReconciliationRun.objects.create(mode=ReconciliationRun.Mode.CHANGES, cursor_from="0")
    JobHeartbeat.objects.create(name="reconcile_core", interval_seconds=300)
    attempt = {"username": "nobody", "ip_address": "10.0.0.9", "user_agent": "test", "path_info": "/login/"}
    AccessAttempt.objects.create(**attempt, http_accept="*/*", get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**attempt, http_accept="*/*")
    TOTPDevice.objects.create(user=credit2, name="Authenticator app", confirmed=True)
    StaticDevice.objects.create(user=credit2, name="Backup codes", confirmed=True)


def _staff(username: str, role: roles.Role, departments: list[str]) -> User:
    user = make_staff(username, role, departments)
    assert isinstance(user, User)
    return user


def _world() -> World:
    by_role = {
        slug: _staff(username, roles.ROLES_BY_SLUG[slug], departments)
        for slug, (username, departments) in LOGINS.items()
    }
    staff: dict[str, User | None] = {"anonymous": None, **by_role}
    credit2 = _staff("credit2", roles.CREDIT_OFFICER, ["credit"])  # the other officer of a four-eyes request
    tech, credit, lead = (by_role[role.slug] for role in (roles.TECH_ENGINEER, roles.CREDIT_OFFICER, roles.TEAM_LEAD))
    job = Actor.system("test", "job")

    credit_account = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    service_account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    tech_account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    held_account = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    review_account = make_account(State.VERIFYING, tier="high")
    credit_case = case_open_for_account(account=credit_account, cause=EmptyCause.RISK_HOLD, actor=job)
    service_case = case_open_for_account(account=service_account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=job)
    tech_case = case_open_for_account(account=tech_account, cause=EmptyCause.SYSTEM_CONFIG, actor=job)
    checklist_item = credit_case.checklist.order_by("position").first()
    assert checklist_item is not None

    incident = incident_create(title="Mobile app channel missing", description="Since the release.", user=tech)
    case_link_incident(case_id=tech_case.pk, incident_id=incident.pk, user=tech)
    resolved_incident = incident_create(title="SMS gateway down", description="Fixed.", user=tech)
    incident_resolve(incident_id=resolved_incident.pk, user=tech)
    _link, link_url = link_create(service_account)
    _rows_for_the_admin(credit, credit2, review_account)

    study = CaseStudy.objects.create(
        title="Channel missing after the release",
        cause=EmptyCause.SYSTEM_CONFIG,
        outcome=CaseStudy.Outcome.PROBLEM,
        incident=resolved_incident,
        source_label=str(resolved_incident),
        summary="Forty accounts went empty in an hour.",
        root_cause="The release dropped the channel from the product table.",
        what_worked="The anomaly check raised the incident within the hour.",
        what_to_change="Check the channel table in the release checklist.",
        author=lead,
        author_name="Lead Tester",
    )
    revision = playbook_revision_propose(
        user=by_role[roles.ADMIN.slug], study=study, steps=["Check the channel table"], note="From the study."
    )

    sessions = {}
    for visitor, user in staff.items():
        if user is not None:
            client = Client()
            client.force_login(user)
            sessions[visitor] = dict(client.session.items())
    return World(
        staff=staff,
        sessions=sessions,
        credit_account=credit_account,
        service_account=service_account,
        review_account=review_account,
        credit_case=credit_case,
        service_case=service_case,
        checklist_item=checklist_item,
        incident=incident,
        incident_without_cases=incident_create(title="Slow exports", description="", user=tech),
        resolved_incident=resolved_incident,
        drill=Drill.objects.create(scenario=Drill.Scenario.SMS_WAVE, size=1, started_by=lead),
        ended_drill=Drill.objects.create(
            scenario=Drill.Scenario.RISK_SWEEP,
            size=1,
            started_by=lead,
            status=Drill.DrillStatus.ENDED,
            ended_by=lead,
            ended_at=timezone.now(),
        ),
        study=study,
        revision=revision,
        import_run=ImportRun.objects.create(
            file_name="accounts.csv",
            content=b"account_number\nLA1\n",
            status=ImportRun.Status.REFUSED,
            rows=1,
            rows_checked=1,
            error_count=1,
            errors_csv="line,reason\n2,account_number: not an account number\n",
            created_by=credit,
        ),
        batch=ReactivationBatch.objects.create(title="Re-drive after the fix", incident=incident, created_by=tech),
        approval=approval_request_create(
            account_id=held_account.pk, kind=ApprovalRequest.Kind.RELEASE_HOLD, requested_by=credit2, reason="cleared"
        ),
        proposal=CreditReviewProposal.objects.create(
            account=credit_account, kind=CreditReviewProposal.Kind.RELEASE_HOLD, score=780, reason="score went up"
        ),
        activation_token=link_url.rstrip("/").rsplit("/", 1)[1],
    )


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """Made once for the module, rolled back after it (as ``TestCase.setUpTestData``): each test runs
    in a savepoint inside this transaction, each cell in a savepoint inside the test's."""
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast, transaction.atomic():
        yield _world()
        transaction.set_rollback(True)


def never_fails() -> None:
    """A job for the RQ dashboard's pages (no worker runs in the tests: ``rq_objects`` runs it when needed)."""


def always_fails() -> None:
    raise RuntimeError("a failed job, for the page that requeues it")


def rq_objects(pattern: Pattern) -> dict[str, Any]:
    """What the RQ page names, in Redis: a job (waiting, failed, or run with its result), a worker, a cron scheduler."""
    groups = _groups(pattern.regex)
    queue = django_rq.get_queue("default", commit_mode="auto")
    values: dict[str, Any] = {}
    if "job_id" in groups:
        if pattern.name.endswith(("requeue_job", "result_detail")):
            job = queue.enqueue(always_fails if pattern.name.endswith("requeue_job") else never_fails)
            SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="CRITICAL")
            result = job.latest_result()
            assert result is not None
            values["result_id"] = result.id
        else:
            job = queue.enqueue(never_fails)
        values["job_id"] = job.id
    if "key" in groups:
        worker = Worker([queue], connection=queue.connection, name="role-matrix")
        worker.register_birth()
        values["key"] = worker.key
    if "scheduler_name" in groups:
        cron = CronScheduler(connection=queue.connection, name="role-matrix")
        cron.register(never_fails, queue_name="default", interval=3600)
        cron.register_birth()
        values.update(scheduler_name=cron.name, cron_job_name=f"{__name__}.never_fails")
    return values


def family_kwargs(pattern: Pattern, world: World) -> dict[str, Any]:
    """Real objects for the generated pages: the first row of the admin page's model, the jobs of ``rq_objects``."""
    groups = _groups(pattern.regex)
    model = pattern.admin_model
    first = model._default_manager.order_by("pk").first() if model is not None and model._meta.managed else None
    pk = first.pk if first is not None else 0  # django-rq's Dashboard: a model without rows (nor table)
    values: dict[str, Any] = {
        "object_id": pk,
        "id": pk,
        "pk": pk,
        "app_label": "accounts",
        "content_type_id": ContentType.objects.get_for_model(LoanAccount).pk,
        "transition_name": "release_hold",
        "url": "no-such-page/",
        "queue_index": 0,
        "scheduler_index": 0,
        "connection_index": 0,
        "token": "nottheapitoken",
    }
    if pattern.name == "admin:view_on_site":
        values["object_id"] = world.credit_account.pk
    values.update(rq_objects(pattern))
    return {name: values[name] for name in groups}


def url_for(pattern: Pattern, world: World) -> str:
    if pattern.key in KWARGS:
        kwargs = KWARGS[pattern.key](world)
    elif pattern.family:
        kwargs = family_kwargs(pattern, world)
    elif _groups(pattern.regex):
        return example_url(pattern.regex, pattern.name)  # a pattern still without its row and objects
    else:
        kwargs = {}
    return pattern.path(kwargs) + (QUERY[pattern.key](world) if pattern.key in QUERY else "")


# --- asking every visitor -------------------------------------------------------------------------


@functools.cache
def _handler() -> ClientHandler:
    """One request handler for all the clients: loading the middleware (WhiteNoise scans the static files) is slow."""
    return Client().handler


def sign_in(client: Client, session_data: dict[str, Any] | None) -> None:
    """What ``client.force_login`` gives, at a fraction of its cost: a new session holding a sign-in's data.

    The data is that of a ``force_login`` made with the world (``World.sessions``), its clocks set
    to now, in a session row of its own (written as the session store writes one): a sign-out in
    one cell ends no other cell's session.
    """
    if session_data is None:
        return
    now = now_seconds()
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    key = get_random_string(32, VALID_KEY_CHARS)
    store.get_model_class().objects.create(
        session_key=key,
        session_data=store.encode({**session_data, SIGNED_IN_AT: now, LAST_ACTIVITY: now, REAUTH_AT: now}),
        expire_date=store.get_expiry_date(),
        user_id=int(session_data[SESSION_KEY]),
    )
    client.cookies[settings.SESSION_COOKIE_NAME] = key


def outcome(response: HttpResponseBase, method: str) -> str:
    """The table's letter for a response ("?" when it has none)."""
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        location = response["Location"]
        if location.startswith(reverse("login") + "?"):
            return "l"
        if location.startswith(reverse("admin:login") + "?"):
            return "a"
        return "o"
    if 200 <= status < 300 or (status == 400 and method == "post"):
        return "o"
    return {401: "u", 403: "f", 404: "n", 405: "m"}.get(status, "?")


def ask_everyone(url: str, world: World, data: dict[str, Any]) -> tuple[tuple[str, str], list[str]]:
    """The row as observed: what a GET and a POST of ``url`` answer each visitor; and the answers without a letter."""
    row, odd = [], []
    for method in ("get", "post"):
        letters = ""
        for visitor in VISITORS:
            # A fresh client per cell, and a savepoint: what one cell does (a sign-out, a case taken,
            # a hold released) is undone before the next, so each cell meets the same world.
            client = Client(raise_request_exception=False)  # a 500 is an answer, to report with the others
            client.handler = _handler()
            cell = transaction.savepoint_create()
            try:
                sign_in(client, world.sessions.get(visitor))
                response = client.get(url) if method == "get" else client.post(url, data)
            finally:
                transaction.savepoint_rollback(cell)  # also after a database error
            letters += outcome(response, method)
            if letters[-1] == "?":
                odd.append(f"{method.upper()} {url} as {visitor}: {response.status_code}")
        row.append(f"{letters[0]} {letters[1:]}")
    return (row[0], row[1]), odd


def row_matches(observed: tuple[str, str], expected: tuple[str, str]) -> bool:
    return all(
        seen == wanted or (wanted == "*" and seen in "ofmn")
        for observed_letters, expected_letters in zip(observed, expected, strict=True)
        for seen, wanted in zip(observed_letters, expected_letters, strict=True)
    )


def check_row(pattern: Pattern, world: World) -> None:
    url = url_for(pattern, world)
    data = POST_DATA[pattern.key](world) if pattern.key in POST_DATA else {}
    observed, odd = ask_everyone(url, world, data)
    get, post = observed
    found = f'{url} answered\n    "{pattern.key}": ("{get}", "{post}"),\nthe table says {pattern.expected}'
    assert not odd, f"answers the table has no letter for: {odd}; {found}"
    assert pattern.expected is not None and row_matches(observed, pattern.expected), found


# --- the table covers the project -----------------------------------------------------------------


def test_every_url_pattern_has_a_row() -> None:
    patterns = url_patterns().values()
    missing = sorted(pattern.key for pattern in patterns if pattern.expected is None)
    assert not missing, f"URL patterns without a row in MATRIX: {missing}"
    keys = {pattern.key for pattern in patterns} | {pattern.family for pattern in patterns if pattern.family}
    gone = sorted(set(MATRIX) - keys)
    assert not gone, f"rows of MATRIX for URL patterns that no longer exist: {gone}"
    assert set(KWARGS) | set(POST_DATA) | set(QUERY) <= set(MATRIX)
    assert len(VISITORS) == 7
    for key, row in MATRIX.items():
        for letters in row:
            assert re.fullmatch(r"[olafnmu] [olafnmu*]{6}", letters), (key, letters)


# --- each row: one test per URL name, its 14 requests ----------------------------------------------

OWN_ROWS = sorted(key for key, pattern in url_patterns().items() if pattern.family is None or key in MATRIX)
FAMILY_MEMBERS = sorted(key for key, pattern in url_patterns().items() if pattern.family and key not in MATRIX)


@pytest.mark.django_db
@pytest.mark.parametrize("key", OWN_ROWS)
def test_each_page_answers_each_role_as_its_row_says(key: str, world: World) -> None:
    check_row(url_patterns()[key], world)


@pytest.mark.django_db
@pytest.mark.parametrize("key", FAMILY_MEMBERS)
def test_each_admin_and_rq_page_answers_each_role_as_its_family_row_says(key: str, world: World) -> None:
    check_row(url_patterns()[key], world)


# --- the cross-department rules, spelled out ------------------------------------------------------


def service_agent_client(world: World) -> Client:
    service = world.staff[roles.SERVICE_AGENT.slug]
    assert service is not None
    client = Client()
    client.force_login(service)
    return client


@pytest.mark.django_db
def test_a_service_agent_cannot_open_a_credit_case_by_guessing_its_id(world: World) -> None:
    client = service_agent_client(world)
    assert client.get(reverse("casework:detail", args=[world.service_case.pk])).status_code == 200
    guessed = world.credit_case.pk
    assert client.get(reverse("casework:detail", args=[guessed])).status_code == 404
    assert client.post(reverse("casework:take", args=[guessed])).status_code == 404
    assert client.post(reverse("casework:comment", args=[guessed]), {"text": "mine now"}).status_code == 404
    # The same answer as for a case that does not exist: nothing tells the two apart.
    missing = Case.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1
    assert client.get(reverse("casework:detail", args=[missing])).status_code == 404
    credit_case = Case.objects.get(pk=guessed)
    assert credit_case.assignee_id is None and not credit_case.events.filter(text="mine now").exists()


@pytest.mark.django_db
def test_a_service_agent_cannot_reveal_the_personal_data_of_a_customer_outside_their_cases(world: World) -> None:
    client = service_agent_client(world)
    form = {"field": "mobile", "reason": "customer asked for a call back"}
    outside = client.post(reverse("accounts:reveal", args=[world.credit_account.number]), form)
    assert outside.status_code == 404
    assert world.credit_account.customer.contact_mobile not in outside.content.decode()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.REVEAL).exists()
    # The customer of their own case: shown, and the access recorded.
    own = client.post(reverse("accounts:reveal", args=[world.service_account.number]), form)
    assert own.status_code == 200 and world.service_account.customer.contact_mobile in own.content.decode()
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.REVEAL).count() == 1
