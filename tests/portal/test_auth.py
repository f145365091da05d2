"""Signing in and out, changing a password, and the lockout after repeated bad passwords."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_the_login_page(client: Client) -> None:
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/"


def test_it_signs_in_and_lands_on_the_dashboard(client: Client, lead) -> None:
    response = client.post(reverse("login"), {"username": "lead", "password": TEST_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert response.context["user"] == lead
    assert b"Team lead" in response.content


def test_it_says_what_is_wrong_with_a_bad_password(client: Client, lead) -> None:
    response = client.post(reverse("login"), {"username": "lead", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_it_locks_out_after_repeated_bad_passwords(client: Client, lead, settings) -> None:
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "lead", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "lead", "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_it_does_not_lock_out_another_user(client: Client, lead, auditor, settings) -> None:
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "lead", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "auditor", "password": TEST_PASSWORD})
    assert response.status_code == 302


def test_it_signs_out_only_by_post(client: Client, lead) -> None:
    client.force_login(lead)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("dashboard")).status_code == 302


def test_it_changes_the_password(client: Client, service) -> None:
    client.force_login(service)
    response = client.post(
        reverse("password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": "Quiet-river-2026", "new_password2": "Quiet-river-2026"},
    )
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.check_password("Quiet-river-2026")


def test_it_keeps_the_password_when_the_new_one_is_weak(client: Client, service) -> None:
    client.force_login(service)
    response = client.post(
        reverse("password_change"), {"old_password": TEST_PASSWORD, "new_password1": "123", "new_password2": "123"}
    )
    assert response.status_code == 200
    assert b"This password is too short" in response.content
    service.refresh_from_db()
    assert service.check_password(TEST_PASSWORD)
