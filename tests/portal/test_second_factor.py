"""The second factor: enrolment with a QR code, the two-step sign-in, backup codes, the lockout, the reset."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import roles
from portal.models import SecurityEvent
from portal.second_factor import authenticator
from portal.sessions import sessions_open
from tests.factories import TEST_PASSWORD, make_staff
from tests.second_factor import authenticator_for, code_for, pass_second_step

pytestmark = pytest.mark.django_db
SECOND_STEP = reverse("second_factor")


@pytest.fixture
def otp_required(settings) -> None:
    settings.OTP_REQUIRED = True


def sign_in(client: Client, username: str, next_url: str = "/") -> str:
    """The password step; returns where the portal sends the browser next."""
    response = client.post(f"{reverse('login')}?next={next_url}", {"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def kinds(user: Any = None) -> list[str]:
    events = SecurityEvent.objects.order_by("id")
    if user is not None:
        events = events.filter(actor=user)
    return list(events.values_list("kind", flat=True))


@pytest.mark.usefixtures("otp_required")
@pytest.mark.parametrize("role", roles.ROLES, ids=lambda role: role.slug)
def test_no_role_gets_in_with_the_password_alone(client: Client, role: roles.Role) -> None:
    user = make_staff(role.slug, role, [role.home_department] if role.home_department else [])
    device = authenticator_for(user)

    assert sign_in(client, role.slug) == f"{SECOND_STEP}?next=/"
    for page in ("/", reverse("accounts:list"), reverse("profile"), reverse("password_change")):
        response = client.get(page)
        assert (response.status_code, response["Location"]) == (302, f"{SECOND_STEP}?next={page}"), page
    assert kinds() == []  # the password alone is not a sign-in

    response = client.post(f"{SECOND_STEP}?next=/", {"code": code_for(device)})
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.get("/").status_code == 200
    assert kinds(user) == [SecurityEvent.Kind.SIGN_IN]


@pytest.mark.usefixtures("otp_required")
def test_a_wrong_code_is_refused_and_recorded(client: Client, credit) -> None:
    device = authenticator_for(credit)
    sign_in(client, "credit")
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(SECOND_STEP, {"code": wrong})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert client.get("/").status_code == 302
    assert kinds() == [SecurityEvent.Kind.SECOND_FACTOR_FAILED]


@pytest.mark.usefixtures("otp_required")
def test_the_first_sign_in_sets_up_the_authenticator_with_a_qr_code_drawn_here(client: Client, service) -> None:
    assert sign_in(client, "service") == f"{SECOND_STEP}?next=/"
    response = client.get(f"{SECOND_STEP}?next=/")
    assert response["Location"] == f"{reverse('second_factor_enrol')}?next=/"

    page = client.get(response["Location"]).content.decode()
    svg = re.search(r"<svg [^>]*>.*?</svg>", page, re.S)
    assert svg and 'role="img"' in svg.group(0) and "<path" in svg.group(0)
    assert "<script" not in svg.group(0) and "style=" not in svg.group(0)  # the CSP allows neither inline
    device = authenticator(service, confirmed=False)
    assert device is not None and device.user == service
    secret = re.search(r'data-testid="secret">([A-Z2-7 ]+)<', page)
    assert secret and len(secret.group(1).replace(" ", "")) == 32
    assert client.get("/").status_code == 302  # not in yet

    response = client.post(f"{reverse('second_factor_enrol')}?next=/", {"code": code_for(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", response.content.decode())
    assert len(set(codes)) == 10
    assert StaticToken.objects.filter(device__user=service).count() == 10
    assert not StaticToken.objects.filter(token__in=codes).exists(), "only hashes of the codes are kept"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200
    assert kinds(service) == [SecurityEvent.Kind.DEVICE_ENROLLED, SecurityEvent.Kind.SIGN_IN]


@pytest.mark.usefixtures("otp_required")
def test_a_backup_code_works_once(client: Client, credit) -> None:
    authenticator_for(credit)
    client.force_login(credit)
    pass_second_step(client, TOTPDevice.objects.get(user=credit))
    codes_page = client.post(reverse("backup_codes")).content.decode()
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", codes_page)
    assert len(codes) == 10

    other = Client()
    sign_in(other, "credit")
    response = other.post(SECOND_STEP, {"code": codes[0].upper().replace("-", " ")}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "You signed in with a backup code; 9 are left." in response.content.decode()

    again = Client()
    sign_in(again, "credit")
    assert again.post(SECOND_STEP, {"code": codes[0]}).status_code == 400
    assert again.get("/").status_code == 302
    assert StaticToken.objects.filter(device__user=credit).count() == 9


@pytest.mark.usefixtures("otp_required")
def test_new_backup_codes_replace_the_old_ones(client: Client, credit) -> None:
    device = authenticator_for(credit)
    client.force_login(credit)
    pass_second_step(client, device)
    first = re.findall(r"<code>([a-z2-9-]{11})</code>", client.post(reverse("backup_codes")).content.decode())
    second = re.findall(r"<code>([a-z2-9-]{11})</code>", client.post(reverse("backup_codes")).content.decode())
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    other = Client()
    sign_in(other, "credit")
    assert other.post(SECOND_STEP, {"code": first[0]}).status_code == 400
    assert other.post(SECOND_STEP, {"code": second[0]}).status_code == 302


@pytest.mark.usefixtures("otp_required")
def test_wrong_codes_lock_the_second_step_and_say_until_when(client: Client, credit, settings) -> None:
    device = authenticator_for(credit)
    with time_machine.travel("2026-11-02 09:00 +08:00", tick=False) as clock:
        sign_in(client, "credit")
        for _attempt in range(settings.OTP_FAILURE_LIMIT - 1):
            assert client.post(SECOND_STEP, {"code": "000000"}).status_code == 400
        last = client.post(SECOND_STEP, {"code": "000000"})
        assert last.status_code == 429
        assert "Too many wrong codes in a row. Try again at 09:15 (in 15 minutes)" in last.content.decode()
        # Locked: even the right code is not looked at.
        clock.shift(timedelta(minutes=5))
        locked = client.post(SECOND_STEP, {"code": code_for(device)})
        assert locked.status_code == 429 and "Try again at 09:15 (in 10 minutes)" in locked.content.decode()
        assert client.get("/").status_code == 302
        clock.shift(timedelta(minutes=10, seconds=1))
        assert client.post(SECOND_STEP, {"code": code_for(device)}).status_code == 302
    assert kinds().count(SecurityEvent.Kind.SECOND_FACTOR_FAILED) == settings.OTP_FAILURE_LIMIT
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


@pytest.mark.usefixtures("otp_required")
def test_the_admin_and_the_rq_dashboard_refuse_a_session_without_the_second_step(client: Client, admin_user) -> None:
    device = authenticator_for(admin_user)
    client.force_login(admin_user)
    for url in (reverse("admin:index"), reverse("admin:auth_user_changelist"), reverse("django_rq:home")):
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, f"{SECOND_STEP}?next={url}"), url
    # The admin's own sign-in page sends to the portal's second step, not to a password form.
    assert client.get(reverse("admin:login"))["Location"].startswith(SECOND_STEP)

    pass_second_step(client, device)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("django_rq:home")).status_code == 200


def test_the_admin_sign_in_page_is_the_portals(client: Client, admin_user) -> None:
    response = client.get(reverse("admin:login") + "?next=/admin/")
    assert response["Location"] == reverse("login") + "?next=/admin/"
    assert client.post(reverse("admin:login"), {"username": "admin", "password": TEST_PASSWORD}).status_code == 302
    assert "_auth_user_id" not in client.session


def test_without_the_requirement_the_demo_users_sign_in_in_one_step(client: Client, lead) -> None:
    assert sign_in(client, "lead") == "/"
    assert client.get("/").status_code == 200
    assert kinds() == [SecurityEvent.Kind.SIGN_IN]


def test_without_the_requirement_whoever_set_up_a_second_factor_is_asked_for_it(client: Client, lead) -> None:
    device = authenticator_for(lead)
    assert sign_in(client, "lead") == f"{SECOND_STEP}?next=/"
    assert client.get("/").status_code == 302
    assert client.post(SECOND_STEP, {"code": code_for(device)}).status_code == 302
    assert client.get("/").status_code == 200


def test_a_refused_password_is_recorded(client: Client, lead) -> None:
    client.post(reverse("login"), {"username": "lead", "password": "wrong"})
    event = SecurityEvent.objects.get()
    assert (event.kind, event.actor, event.details) == (SecurityEvent.Kind.SIGN_IN_FAILED, None, {"username": "lead"})


def test_an_admin_resets_a_lost_phone_and_it_is_recorded(client: Client, admin_user, credit) -> None:
    authenticator_for(credit)
    StaticDevice.objects.create(user=credit, name="Backup codes")
    phone_thief = Client()
    phone_thief.force_login(credit)
    assert sessions_open(user_id=credit.pk) == 1

    client.force_login(admin_user)
    changelist = reverse("admin:auth_user_changelist")
    response = client.post(changelist, {"action": "second_factor_reset", "_selected_action": [credit.pk]}, follow=True)
    assert "Second factor reset for 1 person" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=credit).exists() and not StaticDevice.objects.filter(user=credit).exists()
    assert sessions_open(user_id=credit.pk) == 0 and phone_thief.get("/").status_code == 302
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.DEVICES_RESET)
    assert (event.actor, event.target_user, event.details) == (admin_user, credit, {"devices": 2, "sessions_ended": 1})


def test_the_reset_wants_a_recent_confirmation(client: Client, admin_user, credit) -> None:
    authenticator_for(credit)
    client.force_login(admin_user)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        changelist = reverse("admin:auth_user_changelist")
        response = client.post(changelist, {"action": "second_factor_reset", "_selected_action": [credit.pk]})
    assert response["Location"].startswith(reverse("confirm") + "?next=")
    assert TOTPDevice.objects.filter(user=credit).exists()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DEVICES_RESET).exists()


def test_a_new_sign_in_forgets_the_earlier_second_step(client: Client, settings, credit) -> None:
    settings.OTP_REQUIRED = True
    device = authenticator_for(credit)
    client.force_login(credit)
    pass_second_step(client, device)
    assert client.get("/").status_code == 200
    client.force_login(credit)  # signing in again in the same browser
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get("/").status_code == 302


# Not named "page": pytest-playwright would take it for its browser page and regroup the whole run.
@pytest.mark.parametrize("view_name", ["dashboard", "accounts:list", "casework:board", "profile"])
def test_the_requirement_costs_no_query_on_a_page(client: Client, settings, lead, view_name: str) -> None:
    device = authenticator_for(lead)
    client.force_login(lead)
    pass_second_step(client, device)
    client.get(reverse(view_name))  # warm the caches
    counts = {}
    for required in (False, True):
        settings.OTP_REQUIRED = required
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(view_name)).status_code == 200
        counts[required] = len(queries.captured_queries)
    assert counts[True] == counts[False]
