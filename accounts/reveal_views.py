"""*Reveal*: one personal field of an account's customer, with a reason, recorded before it is shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts.models import LoanAccount
from accounts.reveal import PERSONAL_FIELDS, REVEAL_ANY, REVEAL_OWN_CASES, masked, may_reveal, personal_data_reveal
from portal.http import INVALID, back_url
from portal.text import TextField


class RevealForm(forms.Form):
    field = forms.ChoiceField(choices=[(name, field.label) for name, field in PERSONAL_FIELDS.items()])
    reason = TextField(
        label=_("Reason"),
        max_length=300,
        min_length=4,
        error_messages={
            "required": _("Say why you need it: the reason goes into the access log."),
            "min_length": _("Say why you need it in a few words (at least 4 characters): it goes into the access log."),
        },
    )


def _refused(request: HttpRequest, account: LoanAccount, form: RevealForm, *, htmx: bool, back: str) -> HttpResponse:
    """Nothing revealed: the masked value again with what was wrong (htmx), or the page saying so; 400."""
    field = request.POST.get("field", "")
    if htmx and field in PERSONAL_FIELDS:
        problems = [str(error) for errors in form.errors.values() for error in errors]
        refused = {"field": field, "shown": masked(account.customer, field), "problems": problems}
        return render(request, "accounts/partials/reveal_refused.html", refused, status=INVALID)
    context: dict[str, Any] = {"account": account, "form": form, "value": None, "back": back}
    return render(request, "accounts/revealed.html", context, status=INVALID)


@require_POST
def reveal(request: HttpRequest, number: str) -> HttpResponse:
    """Show one masked field in clear, for this response only, once the access is recorded.

    403 for a role that never reveals; 404 for an account this user may not see or a customer
    outside their cases (as if it were not there).
    """
    account, _can_edit = selectors.get_account_for_user(request, number)
    user = request.user
    if not (user.has_perm(REVEAL_ANY) or user.has_perm(REVEAL_OWN_CASES)):
        raise PermissionDenied
    if not may_reveal(user, account.customer_id):
        raise Http404
    form = RevealForm(request.POST)
    htmx = request.headers.get("HX-Request") == "true"
    back = back_url(request, account.get_absolute_url())
    if not form.is_valid():
        return _refused(request, account, form, htmx=htmx, back=back)
    field = form.cleaned_data["field"]
    value = personal_data_reveal(request=request, account=account, field=field, reason=form.cleaned_data["reason"])
    context = {
        "account": account,
        "field": field,
        "value": value,
        "label": PERSONAL_FIELDS[field].label,
        "reason": form.cleaned_data["reason"],
        "back": back,
    }
    response = render(request, "accounts/partials/revealed.html" if htmx else "accounts/revealed.html", context)
    response["Cache-Control"] = "no-store"  # the value is for this view only: not kept by the browser
    return response
