"""The one check for text sent to the desk: too long, or a control character, said clearly."""

from __future__ import annotations

import pytest
from django import forms

from portal.text import TextField, text_problem


class NoteForm(forms.Form):
    title = TextField(label="Title", max_length=20)
    note = TextField(label="Note", max_length=50, required=False, widget=forms.Textarea)


def errors(**data: str) -> list[str]:
    form = NoteForm(data)
    assert not form.is_valid()
    return [str(message) for messages in form.errors.values() for message in messages]


def test_too_long_says_how_long_and_the_limit() -> None:
    assert errors(title="x" * 20_000) == ["Title is 20,000 characters long; at most 20 are accepted: shorten it."]


@pytest.mark.parametrize(
    ("value", "described"),
    [("a\x00b", "U+0000 NUL"), ("a\x1bb", "U+001B"), ("a\x7fb", "U+007F"), ("a\x85b", "U+0085")],
)
def test_a_control_character_is_named_with_where_it_is(value: str, described: str) -> None:
    (message,) = errors(title=value)
    assert message.startswith(f"Title contains a control character ({described}")
    assert "at position 2: remove it" in message


def test_line_breaks_are_text_in_a_textarea_and_control_characters_in_a_line() -> None:
    form = NoteForm({"title": "Fine", "note": "line one\r\nline two\tindented"})
    assert form.is_valid(), form.errors
    assert errors(title="two\nlines") == [
        "Title contains a control character (U+000A) at position 4: remove it (it often comes from copying out of "
        "another program) and send it again."
    ]


def test_chinese_text_and_emoji_are_plain_text() -> None:
    assert NoteForm({"title": "成都锦江支行 ✓", "note": "客户已激活 🙂"}).is_valid()
    assert text_problem("流动资金贷款", max_length=6) is None
    assert (
        text_problem("流动资金贷款", max_length=5)
        == "This text is 6 characters long; at most 5 are accepted: shorten it."
    )
