"""The customer's activation page: the one page of the portal without a staff login."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.notify import code_message
from accounts.policy import Step
from accounts.services import AccountActionError
from accounts.verification import (
    LinkInvalid,
    activation_progress,
    code_send,
    code_verify,
    link_from_token,
    password_set,
)
from portal.masking import mask_mobile


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("6-digit code from the SMS"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={
            "invalid": _("Enter the 6 digits from the SMS."),
            "required": _("Enter the 6 digits from the SMS."),
        },
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6}),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=_("New password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("The same password again"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = link_from_token(token)
    except LinkInvalid:
        return render(request, "activation/invalid.html", status=404)
    account = link.account
    code_form, password_form = CodeForm(), PasswordForm()
    error = notice = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "send_code":
                sent = code_send(link_id=link.pk)
                code_message(account, sent.code)
                notice = str(
                    _("We sent a code to %(mobile)s. It is valid for 10 minutes.") % {"mobile": mask_mobile(sent.to)}
                )
            elif action == "verify_code":
                code_form = CodeForm(request.POST)
                if code_form.is_valid():
                    code_verify(link_id=link.pk, code=code_form.cleaned_data["code"])
                    return redirect(request.path)
            elif action == "set_password":
                password_form = PasswordForm(request.POST)
                if password_form.is_valid():
                    password_set(
                        link_id=link.pk,
                        password=password_form.cleaned_data["password"],
                        password2=password_form.cleaned_data["password2"],
                    )
                    return redirect(request.path)
        except AccountActionError as exc:
            error = exc.message
        except ValidationError as exc:
            error = " ".join(exc.messages)
        account.refresh_from_db()
    progress = activation_progress(account)
    context = {
        "account": account,
        "mobile": mask_mobile(account.customer.contact_mobile),
        "progress": progress,
        "remaining": [Step(step).label for step in account.steps_missing()],
        "code_form": code_form,
        "password_form": password_form,
        "error": error,
        "notice": notice,
    }
    if request.headers.get("HX-Request"):
        return render(request, "activation/page.html#progress", context)
    return render(request, "activation/page.html", context)
