"""With production settings, no staff page opens to a session that has only given its password."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal import roles
from tests.factories import TEST_PASSWORD, make_staff
from tests.portal.test_access import PUBLIC, all_urls
from tests.second_factor import authenticator_for

pytestmark = pytest.mark.django_db
# The second step itself, and leaving: what a session between the two steps may reach.
SECOND_STEP_PAGES = {"second_factor", "second_factor_enrol", "logout", "language"}


@pytest.fixture
def half_signed_in(settings) -> Client:
    """An admin (who may open every page) past the password, not past the code, on production settings."""
    settings.OTP_REQUIRED = True
    user = make_staff("admin", roles.ADMIN)
    authenticator_for(user)
    client = Client()
    response = client.post(reverse("login"), {"username": "admin", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(reverse("second_factor"))
    return client


@pytest.mark.parametrize(
    ("name", "url"), [pair for pair in all_urls() if pair[0] not in PUBLIC and pair[0] not in SECOND_STEP_PAGES]
)
def test_every_staff_page_wants_the_second_factor(half_signed_in: Client, name: str, url: str) -> None:
    for method in ("get", "post"):
        response = getattr(half_signed_in, method)(url)
        location = response.get("Location", "")
        assert response.status_code == 302 and location.startswith(reverse("second_factor") + "?next="), (
            f"{method.upper()} {url} answered {response.status_code} {location}"
        )
