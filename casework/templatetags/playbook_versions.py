"""Which playbook version a case's checklist came from, and whether the playbook has moved on since."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from casework.models import Case, Playbook

register = template.Library()


@register.simple_tag
def checklist_version(case: Case) -> SafeString | str:
    """“Checklist from playbook version N”, and “(the playbook is now at version M)” once it has changed.

    The case page's case carries its cause's current version (``playbook_now``); a case loaded
    without it costs one query.
    """
    if case.playbook_version is None:
        return ""
    now = getattr(case, "playbook_now", None)
    if now is None:
        now = Playbook.objects.filter(cause=case.cause).values_list("version", flat=True).first()
    text = _("Checklist from playbook version %(version)d") % {"version": case.playbook_version}
    if now is not None and now > case.playbook_version:
        text += " " + _("(the playbook is now at version %(version)d)") % {"version": now}
    return format_html('<p class="muted small" data-testid="checklist-version">{}</p>', text)
