"""The customer-feedback form, drawn on the account page (which cannot import casework) and the case page."""

from __future__ import annotations

from typing import Any

from django import template

from casework.forms import FeedbackForm

register = template.Library()


@register.inclusion_tag("casework/partials/feedback_form.html", takes_context=True)
def feedback_form(context: template.Context, action: str) -> dict[str, Any]:
    """The empty form posting to ``action``, coming back to this page (``next``)."""
    request = context.get("request")
    return {
        "form": FeedbackForm(),
        "action": action,
        "next": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }
