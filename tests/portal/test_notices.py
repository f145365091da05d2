"""The staff notification inbox, the header's bell and each person's choices."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.models import Notice, NoticePreference
from portal.notices import email_lost_notices, send_notice_emails
from tests.jobs import work

pytestmark = pytest.mark.django_db


def tell(user, count: int = 1, *, kind: str = "case_assigned") -> list[Notice]:
    return [
        Notice.objects.create(
            recipient=user, kind=kind, params={"case": n}, url=f"/cases/{n}/", dedupe_key=f"{kind}:{n}"
        )
        for n in range(1, count + 1)
    ]


def test_the_header_bell_loads_its_count_by_htmx(client: Client, service) -> None:
    client.force_login(service)
    page = client.get(reverse("dashboard")).content.decode()
    assert f'hx-get="{reverse("notice_bell")}"' in page
    assert 'hx-trigger="load, every 60s"' in page


def test_the_bell_counts_the_unread_in_one_query(client: Client, service, credit, django_assert_num_queries) -> None:
    tell(service, 3)
    tell(credit, 2)
    Notice.objects.filter(recipient=service, dedupe_key="case_assigned:1").update(read_at="2026-12-07T08:00:00Z")
    client.force_login(service)
    client.get(reverse("notice_bell"))  # warm the session
    # The session, the user, the count: no more, however many notices.
    with django_assert_num_queries(3):
        response = client.get(reverse("notice_bell"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert '<span class="badge badge-bad" data-testid="bell-count">2' in response.content.decode()
    assert 'hx-trigger="every 60s"' in response.content.decode()


def test_the_bell_shows_no_number_when_all_is_read(client: Client, service) -> None:
    client.force_login(service)
    assert b"bell-count" not in client.get(reverse("notice_bell")).content


def test_the_inbox_lists_the_person_own_notices_newest_first(client: Client, service, credit) -> None:
    tell(service, 2)
    tell(credit, 1)
    client.force_login(service)
    page = client.get(reverse("notices")).content.decode()
    assert page.index("Case #2 is assigned to you.") < page.index("Case #1 is assigned to you.")
    assert 'href="/cases/2/"' in page
    assert page.count('data-testid="notice"') == 2


@pytest.mark.parametrize("count", [1, 30])
def test_the_inbox_pins_its_query_count(client: Client, service, django_assert_num_queries, count: int) -> None:
    tell(service, count)
    client.force_login(service)
    client.get(reverse("notices"))  # warm the session
    # The session, the user, the page count, the unread count, the page; the header's
    # permissions (2), roles and departments; nothing per notice.
    with django_assert_num_queries(9):
        response = client.get(reverse("notices"))
    assert response.content.decode().count('data-testid="notice"') == min(count, 25)


def test_it_marks_one_read_and_goes_to_what_it_is_about(client: Client, service) -> None:
    first, second = tell(service, 2)
    client.force_login(service)
    response = client.post(reverse("notice_read", args=[first.pk]), {"open": "1"})
    assert response["Location"] == "/cases/1/"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None


def test_it_marks_all_read(client: Client, service, credit) -> None:
    tell(service, 3)
    (other,) = tell(credit, 1)
    client.force_login(service)
    assert client.post(reverse("notices_read_all"))["Location"] == reverse("notices")
    assert not Notice.objects.filter(recipient=service, read_at__isnull=True).exists()
    other.refresh_from_db()
    assert other.read_at is None


def test_it_answers_404_for_someone_else_notice(client: Client, service, credit) -> None:
    (other,) = tell(credit, 1)
    client.force_login(service)
    assert client.post(reverse("notice_read", args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.read_at is None


def test_marking_read_requires_post(client: Client, service) -> None:
    (notice,) = tell(service, 1)
    client.force_login(service)
    assert client.get(reverse("notice_read", args=[notice.pk])).status_code == 405
    assert client.get(reverse("notices_read_all")).status_code == 405


def test_it_requires_a_sign_in(client: Client) -> None:
    assert client.get(reverse("notice_bell"))["Location"].startswith("/login/")


def test_the_profile_saves_each_choice(client: Client, service) -> None:
    client.force_login(service)
    page = client.get(reverse("profile")).content.decode()
    assert 'name="sla_breach"' in page and 'name="case_assigned"' in page
    response = client.post(
        reverse("notice_preferences"), {"case_assigned": "email", "incident_opened": "off", "sla_breach": "inbox"}
    )
    assert response["Location"] == reverse("profile")
    assert dict(NoticePreference.objects.filter(user=service).values_list("kind", "delivery")) == {
        "case_assigned": "email",
        "incident_opened": "off",
        "sla_breach": "inbox",
    }


def test_a_breach_cannot_be_switched_off_on_the_profile(client: Client, service) -> None:
    client.force_login(service)
    response = client.post(reverse("notice_preferences"), {"case_assigned": "off", "sla_breach": "off"}, follow=True)
    assert "Breached SLAs cannot be switched off" in response.content.decode()
    assert not NoticePreference.objects.exists()  # refused whole


def test_a_bell_poll_is_not_activity(client: Client, service, settings) -> None:
    client.force_login(service)
    client.get(reverse("dashboard"))
    session = client.session
    before = dict(session.items())
    client.get(reverse("notice_bell"), headers={"HX-Request": "true"})
    assert dict(client.session.items()) == before


def test_the_sweeper_emails_a_notice_whose_job_was_lost(service, django_capture_on_commit_callbacks) -> None:
    service.email = "service@bank.example"
    service.save()
    (lost,) = tell(service, 1)
    Notice.objects.filter(pk=lost.pk).update(email_wanted=True, created_at=timezone.now() - timedelta(minutes=5))
    (fresh,) = tell(service, 1, kind="incident_opened")  # its own job may still come: left alone
    Notice.objects.filter(pk=fresh.pk).update(email_wanted=True)
    assert email_lost_notices() == {"requeued": 1}
    work(django_capture_on_commit_callbacks)
    assert [message.to for message in mail.outbox] == [["service@bank.example"]]
    assert send_notice_emails([lost.pk]) == 0  # a second run: emailed once
    assert len(mail.outbox) == 1
