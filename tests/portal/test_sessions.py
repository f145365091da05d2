"""Sessions: the idle and absolute timeouts, what counts as activity, sign out everywhere, the profile page."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import LoanAccount, State
from portal.models import SecurityEvent, StaffSession
from tests.factories import TEST_PASSWORD, make_account
from tests.second_factor import authenticator_for, code_for, pass_second_step

pytestmark = pytest.mark.django_db
T0 = datetime.fromisoformat("2026-11-02T09:00:00+08:00")
POLL = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_an_idle_session_is_signed_out_with_a_message(client: Client, lead) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(lead)
        assert client.get("/").status_code == 200
        clock.move_to(at(31))
        response = client.get(reverse("accounts:list"))
        assert (response.status_code, response["Location"]) == (302, f"{reverse('login')}?next=/accounts/")
        page = client.get(response["Location"]).content.decode()
    assert "You were signed out after 30 minutes without activity." in page
    assert "_auth_user_id" not in client.session
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SESSION_EXPIRED)
    assert (event.actor, event.details) == (lead, {"reason": "idle"})


def test_using_the_portal_keeps_the_session(client: Client, lead) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(lead)
        for minutes in (20, 40, 60, 80):
            clock.move_to(at(minutes))
            assert client.get("/").status_code == 200, minutes


def test_an_htmx_poll_does_not_keep_the_session_alive(client: Client, lead) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(lead)
        for minutes in (10, 20, 29):  # the dashboard refreshing itself in a tab left open
            clock.move_to(at(minutes))
            assert client.get("/", headers=POLL).status_code == 200
        clock.move_to(at(31))
        response = client.get("/", headers=POLL)
    # htmx is told to load the sign-in page as a whole page, coming back to the page, not the fragment.
    assert (response.status_code, response["HX-Redirect"]) == (204, f"{reverse('login')}?next=/")


def test_a_form_posted_with_htmx_is_activity(client: Client, lead) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(lead)
        clock.move_to(at(20))
        client.post(reverse("language"), {"language": "en"}, headers={"HX-Request": "true"})  # public: no clock
        client.post(reverse("sign_out_everywhere"), headers={"HX-Request": "true"})
        clock.move_to(at(45))
        assert client.get("/").status_code == 200


def test_a_sign_in_lasts_a_working_day_however_busy(client: Client, lead, settings) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(lead)
        for minutes in range(20, 8 * 60 + 1, 20):
            clock.move_to(at(minutes))
            assert client.get("/").status_code == 200, minutes
        clock.move_to(at(8 * 60 + 1))
        response = client.get("/", follow=True)
    assert "Your sign-in has reached its time limit." in response.content.decode()
    assert SecurityEvent.objects.get(kind=SecurityEvent.Kind.SESSION_EXPIRED).details == {"reason": "expired"}


def test_the_activity_stamp_is_written_at_most_once_a_minute(client: Client, lead) -> None:
    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("profile")).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(lead)
        client.get(reverse("profile"))
        clock.move_to(at(0.5))
        fresh = queries()
        clock.move_to(at(1.5))
        stale = queries()
        clock.move_to(at(2))
        again = queries()
    writes = [sql for sql in stale if sql.startswith("UPDATE") and "portal_staffsession" in sql]
    assert len(writes) == 1 and len(stale) > len(fresh)
    assert not any(sql.startswith("UPDATE") and "portal_staffsession" in sql for sql in fresh + again)
    assert len(again) == len(fresh)


def test_sign_out_everywhere_ends_the_other_sessions_only(client: Client, lead, credit) -> None:
    laptop, phone, colleague = Client(), Client(), Client()
    for browser in (client, laptop, phone):
        browser.force_login(lead)
    colleague.force_login(credit)
    page = client.get(reverse("profile")).content.decode()
    assert "Here, and in 2 other browsers." in page

    response = client.post(reverse("sign_out_everywhere"), follow=True)
    assert "Signed out of 2 other browsers. This one stays signed in." in response.content.decode()
    assert client.get("/").status_code == 200
    assert laptop.get("/").status_code == 302 and phone.get("/").status_code == 302
    assert colleague.get("/").status_code == 200
    assert StaffSession.objects.filter(user_id=lead.pk).count() == 1
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SIGN_OUT_EVERYWHERE)
    assert (event.actor, event.target_user, event.details) == (lead, lead, {"ended": 2})


def test_sign_out_everywhere_is_post_only(client: Client, lead) -> None:
    client.force_login(lead)
    assert client.get(reverse("sign_out_everywhere")).status_code == 405


def test_the_session_row_knows_whose_it_is_after_the_key_changes(client: Client, settings, lead) -> None:
    settings.OTP_REQUIRED = True
    device = authenticator_for(lead)
    client.post(reverse("login"), {"username": "lead", "password": TEST_PASSWORD})
    before = client.session.session_key
    client.post(reverse("second_factor"), {"code": code_for(device)})
    after = client.session.session_key
    assert before != after, "passing the second step gives the session a new key"
    assert list(StaffSession.objects.values_list("session_key", "user_id")) == [(after, lead.pk)]


def test_the_profile_page_says_who_you_are_and_how_you_sign_in(client: Client, credit, settings) -> None:
    client.force_login(credit)
    page = client.get(reverse("profile")).content.decode()
    assert "Credit officer" in page and "Off: you sign in with your password alone." in page
    assert reverse("password_change") in page and reverse("second_factor_enrol") in page
    device = authenticator_for(credit)
    pass_second_step(client, device)
    client.post(reverse("backup_codes"))
    page = client.get(reverse("profile")).content.decode()
    assert "On: an authenticator app" in page and "10 backup codes left." in page
    assert reverse("backup_codes") in page


def test_signing_out_is_recorded(client: Client, lead) -> None:
    client.force_login(lead)
    response = client.post(reverse("logout"), follow=True)
    assert "You have signed out." in response.content.decode()
    assert SecurityEvent.objects.get().kind == SecurityEvent.Kind.SIGN_OUT


def test_a_form_posted_from_an_idle_session_changes_nothing_and_comes_back_to_its_page(client: Client, credit) -> None:
    account = make_account(State.ACTIVE)
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(credit)
        clock.move_to(at(45))
        response = client.post(
            reverse("accounts:action", args=[account.number, "hold"]),
            {"reason": "alert", "version": account.version},
            headers={"Referer": f"http://testserver{account.get_absolute_url()}"},
        )
    assert response["Location"] == f"{reverse('login')}?next={account.get_absolute_url()}"
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
