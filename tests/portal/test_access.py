"""Every URL of the project turns an anonymous visitor away, except the few that must not."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

# Reachable without signing in, on purpose: what an anonymous GET and POST get there.
PUBLIC = {
    "healthz": ({200}, {405}),
    "readyz": ({200, 503}, {405}),
    "login": ({200}, {200}),  # the form again, with its errors
    "admin:login": ({302}, {302}),  # to the portal's sign-in: the admin has no password form of its own
    "language": ({405}, {302}),  # the login page's switcher: a cookie, then back (the pages need sign-in)
    "core_events": ({405}, {401}),  # machine-to-machine: the HMAC signature is the credential
    "activate": ({404}, {405}),  # the customer's page: a bad link reveals nothing
    "activate_send_code": ({405}, {404}),  # its forms: POST only, and a bad link reveals nothing either
    "activate_verify_code": ({405}, {404}),
    "activate_set_password": ({405}, {404}),
}
SAMPLE_VALUES = [
    "1",
    "auth",
    "user",
    "x",
    "00000000-0000-0000-0000-000000000000",
    "default",
    "LA0000000001",
    "request_release",
]


def walk(resolvers: list[URLResolver | URLPattern], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(regex of the whole path, view name) for every pattern, however deeply included."""
    for entry in resolvers:
        regex = entry.pattern.regex.pattern.lstrip("^")
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if entry.namespace and namespace else entry.namespace or namespace
            yield from walk(entry.url_patterns, prefix + regex, inner)
        else:
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            yield prefix + regex, name


def example_url(regex: str, name: str) -> str:
    """A concrete URL that the pattern matches: by reversing its name, or from its regex."""
    groups = re.findall(r"\(\?P<(\w+)>", regex)
    if name:
        for values in itertools.product(SAMPLE_VALUES, repeat=len(groups)):
            try:
                return reverse(name, kwargs=dict(zip(groups, values, strict=True)))
            except NoReverseMatch:
                continue
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", regex)
    path = path.replace("\\Z", "").replace("$", "").replace("\\", "")
    candidate = "/" + path
    assert get_resolver().resolve(candidate), candidate
    return candidate


def all_urls() -> list[tuple[str, str]]:
    return [(name, example_url(regex, name)) for regex, name in walk(get_resolver().url_patterns)]


def test_the_walk_covers_the_project_pages() -> None:
    names = {name for name, _url in all_urls()}
    assert {"dashboard", "jobs", "accounts:list", "casework:board", "logout", "password_change"} <= names
    assert any(name.startswith("admin:") for name in names)
    assert any(name.startswith("django_rq:") for name in names)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "url"), [pair for pair in all_urls() if pair[0] not in PUBLIC])
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_turns_anonymous_visitors_away(client: Client, name: str, url: str, method: str) -> None:
    response = getattr(client, method)(url)
    if response.status_code == 302:
        location = response["Location"]
        assert location.startswith((reverse("login") + "?next=", reverse("admin:login") + "?next=")), location
    else:
        assert response.status_code in {401, 403, 404}, f"{method.upper()} {url} answered {response.status_code}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_it_leaves_only_the_public_endpoints_open(client: Client, name: str) -> None:
    get_statuses, post_statuses = PUBLIC[name]
    url = dict(all_urls())[name]
    for response in (client.get(url), client.post(url)):
        assert response.status_code in (get_statuses if response.request["REQUEST_METHOD"] == "GET" else post_statuses)
        if response.status_code == 302 and name != "language":
            assert response["Location"].startswith(reverse("login") + "?next="), response["Location"]
