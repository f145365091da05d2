"""The forms of the second step, the enrolment and the confirm page, and how a refused code reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from portal.second_factor import CodeRefused, SecondStepLocked, locked_message

WRONG_CODE = gettext_lazy(
    "That code is not right. Type the 6 digits your authenticator app shows now, or one of your backup codes."
)
WRONG_FIRST_CODE = gettext_lazy(
    "That code is not right. Type the 6 digits the app shows now for Activation Desk; check the phone's clock is right."
)
_CODE_ATTRS = {"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"}


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"), max_length=20, widget=forms.TextInput(attrs={**_CODE_ATTRS, "autofocus": True})
    )


class ConfirmForm(forms.Form):
    """The password again, and a code when the person has an authenticator."""

    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        help_text=gettext_lazy("Or one of your backup codes."),
        max_length=20,
        widget=forms.TextInput(attrs=_CODE_ATTRS),
    )

    def __init__(self, *args: Any, with_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_code:
            del self.fields["code"]


def checked[T](
    form: forms.Form, check: Callable[..., T], field: str = "code", wrong: Any = WRONG_CODE
) -> tuple[T | None, int]:
    """``check(code=…)`` on the posted code: (its result, 200), or (None, the status) with the refusal on the form.

    A wrong code is 400; the lockout (now, or caused by this very code) is 429 and says until when.
    """
    if not form.is_valid():
        return None, 400
    try:
        return check(code=form.cleaned_data[field]), 200
    except SecondStepLocked as exc:
        form.add_error(field, locked_message(exc.until))
        return None, 429
    except CodeRefused as exc:
        form.add_error(field, locked_message(exc.locked_until) if exc.locked_until else wrong)
        return None, 429 if exc.locked_until else 400
