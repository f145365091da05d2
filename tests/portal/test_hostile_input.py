"""Hostile input in every form that writes, the webhook and the import, from one table.

The table is ``tests/hostile_input.toml``; ``make reliability`` reads it too and sends the same
rows over HTTP. Refused input gets a 4xx naming what is wrong and nothing is written; text
that is only dangerous in a spreadsheet is kept as typed.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import resolve, reverse

from accounts.imports import import_run
from tests import hostile

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(service, credit, credit2, tech, lead) -> dict[str, Any]:
    """The staff the table's rows post as (and the objects they act on are made with)."""
    return {user.username: user for user in (service, credit, credit2, tech, lead)}


@pytest.fixture
def post(client: Client, users: dict[str, Any]) -> hostile.Poster:

    def post(username: str, path: str, data: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> hostile.Answer:
        client.force_login(users[username])
        uploads = {key: SimpleUploadedFile(name, content) for key, (name, content) in files.items()}
        response = client.post(path, {**data, **uploads})
        text = response.content.decode(errors="replace")
        return hostile.Answer(response.status_code, text, response.get("Location", ""))

    return post


@pytest.mark.parametrize("value", sorted(hostile.VALUES))
@pytest.mark.parametrize("form", sorted(hostile.FORMS))
def test_a_form_refuses_hostile_text_clearly_or_keeps_it_as_typed(post: hostile.Poster, form: str, value: str) -> None:
    assert hostile.check_form(post, form, value) == []


@pytest.mark.parametrize("name", sorted(hostile.WEBHOOK))
def test_the_webhook_refuses_a_hostile_body_and_stores_nothing(client: Client, users, name: str) -> None:
    def post_body(body: bytes, headers: dict[str, str]) -> hostile.Answer:
        kind = headers.pop("Content-Type")
        response = client.post(reverse("core_events"), data=body, content_type=kind, headers=headers)
        return hostile.Answer(response.status_code, data=response.json())

    assert hostile.check_webhook(post_body, name) == []


@pytest.mark.parametrize("name", sorted(hostile.IMPORTS))
def test_an_import_refuses_a_hostile_file_clearly_and_saves_nothing(
    client: Client, post: hostile.Poster, name: str
) -> None:
    def finish(location: str) -> str:
        import_run(int(resolve(location).kwargs["pk"]))  # the job, run here
        return client.get(location).content.decode()

    assert hostile.check_import(post, finish, name) == []
