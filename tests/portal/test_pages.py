"""The dashboard, the jobs page and the layout every page shares."""

from __future__ import annotations

import re

import django_rq
import pytest
from django.test import Client
from django.urls import reverse
from rq import SimpleWorker

pytestmark = pytest.mark.django_db


def failing_job() -> None:
    raise ValueError("core banking said no")


def test_the_header_shows_name_role_and_departments(client: Client, lead) -> None:
    client.force_login(lead)
    html = client.get(reverse("dashboard")).content.decode()
    assert "Lead Tester" in html
    assert '<span data-testid="role">Team lead</span>' in html
    assert "Credit, Customer service, Tech" in html


@pytest.mark.parametrize("url_name", ["dashboard", "jobs", "accounts:list", "casework:board", "password_change"])
def test_pages_load_nothing_from_another_host(client: Client, lead, url_name: str) -> None:
    client.force_login(lead)
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["'](https?:)?//""", html)
    assert "style=" not in html  # inline styles would be blocked by the CSP
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "object-src 'none'" in csp


def test_the_jobs_page_shows_queued_and_failed_jobs_from_redis(
    client: Client, tech, django_capture_on_commit_callbacks
) -> None:
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):  # jobs are enqueued when the transaction commits
        queue.enqueue(failing_job)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue(failing_job)  # waiting: no worker runs now

    client.force_login(tech)
    response = client.get(reverse("jobs"))
    overview = response.context["overview"]
    assert overview.error is None
    default = next(q for q in overview.queues if q.name == "default")
    assert (default.queued, default.failed) == (1, 1)
    assert [job.function for job in overview.failed_jobs] == ["tests.portal.test_pages.failing_job"]
    assert "ValueError: core banking said no" in response.content.decode()


def test_the_jobs_page_explains_when_redis_is_down(client: Client, tech, settings, tmp_path) -> None:
    settings.RQ_QUEUES = {"default": {"URL": f"unix://{tmp_path}/nothing.sock"}}
    client.force_login(tech)
    response = client.get(reverse("jobs"))
    assert response.status_code == 200
    assert b"Redis is not answering" in response.content


def test_the_jobs_page_links_staff_to_the_rq_dashboard(client: Client, admin_user) -> None:
    client.force_login(admin_user)
    response = client.get(reverse("jobs"))
    assert reverse("django_rq:home") in response.content.decode()
    assert client.get(reverse("django_rq:home")).status_code == 200


def test_the_jobs_page_needs_the_jobs_permission(client: Client, db, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("nobody", password="x-long-password"))
    assert client.get(reverse("jobs")).status_code == 403


# session, user, the user's own and group permissions (menu), role groups, departments;
# the dashboard its heartbeats and database check (its figures come from the snapshot, see
# tests/portal/test_dashboard.py); the jobs page heartbeats and batches.
@pytest.mark.parametrize(("url_name", "queries"), [("dashboard", 8), ("jobs", 11)])
def test_the_portal_pages_pin_their_query_count(
    client: Client, lead, django_assert_num_queries, url_name: str, queries: int
) -> None:
    client.force_login(lead)
    client.get(reverse(url_name))  # warm the session
    with django_assert_num_queries(queries):
        assert client.get(reverse(url_name)).status_code == 200


def test_an_unknown_page_gets_a_plain_404(client: Client, lead) -> None:
    client.force_login(lead)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"This page does not exist, or it is not one you can see" in response.content
