"""One check for text that people and systems send the desk: forms, the webhook, imports.

PostgreSQL cannot store a NUL character, and other control characters (a bell, an escape)
have no business in a reason, a comment or a customer's name: they come from a paste gone
wrong or from an attacker. Every text input is checked here, with a message that says what is
wrong, where, and what to do; tabs and line breaks stay allowed where text has lines.

``text_problem`` checks a plain value (the import), ``control_character`` finds what the
webhook refuses, and ``TextField`` is the form field that runs ``text_problem`` (a
``CharField`` whose maximum length is required).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# C0 controls and DEL (tab, line feed and carriage return apart), and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")


def _describe(character: str) -> str:
    name = "NUL" if character == "\x00" else unicodedata.name(character, "")
    return f"U+{ord(character):04X} {name}".strip()


def control_character(value: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """The first control character of ``value``: its position (from 1) and its description."""
    found = _CONTROL.search(value) or (None if multiline else _LINE_BREAKS.search(value))
    return (found.start() + 1, _describe(found.group())) if found else None


def text_problem(value: str, *, max_length: int, multiline: bool = False, label: str | None = None) -> str | None:
    """What is wrong with this text, in a sentence for the sender; None when nothing is.

    Too long, or a control character (tabs and line breaks too, unless ``multiline``).
    ``label`` names the text in the sentence ("Comment is 200,000 characters long; ...").
    """
    subject = label or _("This text")
    if len(value) > max_length:
        return _("%(subject)s is %(length)s characters long; at most %(limit)s are accepted: shorten it.") % {
            "subject": subject,
            "length": f"{len(value):,}",
            "limit": f"{max_length:,}",
        }
    found = control_character(value, multiline=multiline)
    if found:
        return _(
            "%(subject)s contains a control character (%(character)s) at position %(position)s: remove it (it often "
            "comes from copying out of another program) and send it again."
        ) % {"subject": subject, "character": found[1], "position": f"{found[0]:,}"}
    return None


class TextField(forms.CharField):
    """A text input with a maximum length and no control characters, each refused by ``text_problem``.

    Multi-line when its widget is a ``Textarea``. It replaces ``CharField``'s own length and NUL
    checks, whose messages say neither which field nor what to do.
    """

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(validator, validators.MaxLengthValidator | validators.ProhibitNullCharactersValidator)
        ]

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value in self.empty_values:
            return
        assert self.max_length is not None
        label = str(self.label) if self.label else None
        problem = text_problem(
            str(value), max_length=self.max_length, multiline=isinstance(self.widget, forms.Textarea), label=label
        )
        if problem:
            raise ValidationError(problem, code="text")
