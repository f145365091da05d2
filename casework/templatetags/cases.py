"""A case's board card and its SLA badge (time left, paused, overdue, or when it was resolved).

Written in Python, as the admin writes its changelist cells, rather than as included templates:
the board shows over a hundred cards, and a template per card cost more than the page's queries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from accounts.templatetags.account_badges import core_waiting_badge
from casework.board import board_targets
from casework.models import Case, Status
from casework.selectors import BoardLane
from portal.actors import person_name
from portal.durations import since, until

register = template.Library()

WARN_BELOW = timedelta(hours=1)


def _when(value: datetime) -> str:
    return str(formats.localize(localtime(value)))


@register.simple_tag
def sla_badge(case: Case) -> SafeString:
    if case.is_open:
        if case.is_overdue():
            return format_html(
                '<span class="badge badge-bad sla" title="{} {}">{}</span>',
                _("Resolution was due"),
                _when(case.resolve_due_at),
                _("overdue %(late)s") % {"late": since(case.resolve_due_at)},
            )
        if case.sla_paused_at:
            return format_html(
                '<span class="badge sla" title="{}">⏸ {}</span>',
                _("The SLA clock is paused while waiting for the customer"),
                until(case.resolve_due_at, case.sla_paused_at),
            )
        return format_html(
            '<span class="badge {} sla" title="{} {}">{}</span>',
            "badge-warn" if case.sla_remaining() < WARN_BELOW else "badge-ok",
            _("Resolution due"),
            _when(case.resolve_due_at),
            until(case.resolve_due_at),
        )
    if case.resolved_at:
        return format_html(
            '<span class="muted">{}</span>', _("resolved %(age)s ago") % {"age": since(case.resolved_at)}
        )
    return SafeString()


def _move_label(target: str) -> str:
    return _("Assigned: I take it") if target == Status.ASSIGNED else str(Status(target).label)


def move_menu(case: Case, csrf_token: str, query: str) -> SafeString:
    """The card's Move menu: one button per column it can go to, a plain form (htmx when there is JS).

    A disclosure the keyboard reaches (Tab, Enter, then the column's button); dragging the card
    posts the same form with the column (or the person) it was dropped on.
    """
    targets = board_targets(case.status)
    if not targets:
        return SafeString()
    url = reverse("casework:board_move", args=[case.pk]) + (f"?{query}" if query else "")
    buttons = format_html_join(
        "",
        '<button type="submit" name="to" value="{}" class="btn btn-quiet">{}</button>',
        ((target, _move_label(target)) for target in targets),
    )
    return format_html(
        '<details class="card-menu"><summary>{}<span class="visually-hidden"> {}</span></summary>'
        '<form method="post" action="{}" hx-post="{}" hx-swap="none" class="card-move">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<input type="hidden" name="version" value="{}"><input type="hidden" name="from" value="{}">'
        '<p class="muted">{}</p>{}</form></details>',
        _("Move"),
        _("case #%(id)s") % {"id": case.pk},
        url,
        url,
        csrf_token,
        case.version,
        case.status,
        _("Move to"),
        buttons,
    )


@register.simple_tag(takes_context=True)
def case_card(context: template.Context, case: Case, lane: BoardLane) -> SafeString:
    """One card of the board: account, priority, customer, cause and age, SLA, assignee.

    A lead's card has the tick box of the board's bulk-assign form, with the case's version as
    the lead sees it (an assignment refuses a case someone changed since); the card of someone
    who may work the lane has its Move menu and can be dragged.
    """
    may_assign = lane.may_assign
    menu = (
        move_menu(case, str(context.get("csrf_token", "")), str(context.get("move_query") or ""))
        if lane.may_work
        else ""
    )
    pick = SafeString()
    if may_assign and case.is_open:
        pick = format_html(
            '<label class="pick"><input type="checkbox" name="cases" value="{}" form="bulk-assign">'
            '<input type="hidden" name="version_{}" value="{}" form="bulk-assign">'
            '<span class="visually-hidden">{}</span></label>',
            case.pk,
            case.pk,
            case.version,
            _("Select case %(id)s") % {"id": case.pk},
        )
    drill = format_html(' <span class="badge badge-drill">{}</span>', _("drill")) if case.is_drill else ""
    assignee = case.assignee
    owner = (person_name(assignee)) if assignee else format_html("<em>{}</em>", _("unassigned"))
    return format_html(
        '<article class="case-card priority-{}{}{}" data-case="{}" data-status="{}">{}'
        '<a class="case-link" href="{}">{}</a> <span class="badge badge-p{}">P{}</span>{}{}'
        '<div class="card-customer">{}</div><div class="card-meta">{} · {}</div>'
        '<div class="card-meta">{} · {}</div>{}</article>',
        case.priority,
        " overdue" if case.is_overdue() else "",
        " movable" if menu else "",
        case.pk,
        case.status,
        pick,
        case.get_absolute_url(),
        case.account.number,
        case.priority,
        case.priority,
        drill,
        core_waiting_badge(getattr(case, "core_waiting", None), getattr(case, "core_waiting_since", None)),
        case.account.customer.name,
        case.get_cause_display(),
        _("%(age)s old") % {"age": since(case.opened_at)},
        sla_badge(case),
        owner,
        menu,
    )
