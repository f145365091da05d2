"""Locust load test: staff working the desk (boards, lists, detail pages, case comments).

Run it through ``bench/loadtest.py``, which seeds a sample file and starts a production-like
server. To point it at a server of your own, write the sample JSON yourself::

    LOADTEST_SAMPLE=sample.json locust -f bench/locustfile.py --host http://127.0.0.1:8000

The sample file holds ``{"accounts": [numbers], "cases": [ids], "deep_page": N}`` and
optionally ``"cases_by_department": {code: [ids]}`` and ``"logins": {username: [codes]}``
(the departments each login works). Every login has the demo password ``demo``.

Every user signs in first, and a sign-in costs a deliberately slow password hash (about half a
second of CPU), so 20 at once hold the server for seconds. Once every user has signed in, the
statistics of all other requests start afresh: the page rows and the Aggregated row measure the
desk at work; the sign-in rows keep their figures (failures included) but are not in Aggregated.

Environment: ``LOADTEST_SAMPLE`` (required), ``LOADTEST_PASSWORD`` (default ``demo``),
``LOADTEST_WAIT`` think time between a user's requests, ``"min,max"`` seconds (default ``2,8``:
a person reads a page before the next click).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import STATE_RUNNING, STATE_SPAWNING

logger = logging.getLogger(__name__)
SIGN_IN = "/login/"

# The demo logins and the departments whose cases each may see and work (see portal.services).
DEFAULT_LOGINS: dict[str, tuple[str, ...]] = {
    "lead": ("credit", "service", "tech"),
    "service": ("service",),
    "tech": ("tech",),
    "credit": ("credit",),
}
COMMENTS = (
    "Called the customer, no answer; will try again this afternoon.",
    "Customer confirmed the details, waiting for the documents.",
    "Checked the core-banking log: no activation attempt since the approval.",
    "Escalated to the channel owner.",
)


@dataclass(frozen=True)
class Sample:
    """Account numbers, case ids and logins to spread the requests over."""

    accounts: list[str]
    cases: list[int]
    deep_page: int
    logins: dict[str, tuple[str, ...]]
    cases_by_department: dict[str, list[int]] = field(default_factory=dict)

    def cases_for(self, departments: tuple[str, ...]) -> list[int]:
        """The sampled cases of these departments (all cases when the file has no split)."""
        if not self.cases_by_department:
            return self.cases
        return [pk for code in departments for pk in self.cases_by_department.get(code, [])]


def load_sample(path: str | None) -> Sample:
    """Read the sample file named by ``LOADTEST_SAMPLE``; stop with a clear message if unusable."""
    if not path:
        raise SystemExit("LOADTEST_SAMPLE is not set: name the sample JSON file (bench/loadtest.py writes one).")
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    logins = {name: tuple(codes) for name, codes in data.get("logins", DEFAULT_LOGINS).items()}
    sample = Sample(
        accounts=[str(number) for number in data["accounts"]],
        cases=[int(pk) for pk in data["cases"]],
        deep_page=int(data.get("deep_page", 200)),
        logins=logins,
        cases_by_department={
            code: [int(pk) for pk in ids] for code, ids in data.get("cases_by_department", {}).items()
        },
    )
    if not sample.accounts or not sample.cases or not sample.logins:
        raise SystemExit(f"{path} holds no accounts, no cases or no logins: seed the database first.")
    return sample


def pick[T](items: Sequence[T]) -> T:
    """One item at random (a load-test choice, not a secret)."""
    return random.choice(items)  # noqa: S311


def _wait_range() -> tuple[float, float]:
    """Think time between two requests of one user, from ``LOADTEST_WAIT`` ("min,max" seconds)."""
    low, _comma, high = os.environ.get("LOADTEST_WAIT", "2,8").partition(",")
    return float(low), float(high or low)


class SignInBarrier:
    """Counts finished sign-ins; when every user has signed in, page statistics start afresh."""

    def __init__(self) -> None:
        self.signed_in = 0

    def arrived(self, environment: Environment) -> None:
        """One user is done signing in (or failed to); the last one restarts the measurement."""
        self.signed_in += 1
        runner = environment.runner
        if runner is None or self.signed_in != runner.target_user_count:
            return
        if runner.state not in (STATE_SPAWNING, STATE_RUNNING):
            return  # the run is ending: keep what was measured
        stats = environment.stats
        for (name, _method), entry in stats.entries.items():
            if name != SIGN_IN:
                entry.reset()
        stats.total.reset()  # the failures stay listed in stats.errors (the _failures.csv)
        logger.info("All %d users signed in: page statistics start now.", self.signed_in)


SAMPLE = load_sample(os.environ.get("LOADTEST_SAMPLE"))
PASSWORD = os.environ.get("LOADTEST_PASSWORD", "demo")


class StaffUser(HttpUser):
    """One signed-in member of staff: mostly reading boards and pages, sometimes commenting on a case.

    Users take the logins in turn, so 20 users are 5 each of lead, service, tech and credit.
    Each reads and comments only on cases of its own departments, as the portal allows.
    """

    wait_time = between(*_wait_range())
    _next_login = itertools.count()
    _barrier = SignInBarrier()

    username: str
    departments: tuple[str, ...]
    my_cases: list[int]

    def on_start(self) -> None:
        """Take the next login and sign in with it."""
        logins = list(SAMPLE.logins)
        self.username = logins[next(self._next_login) % len(logins)]
        self.departments = SAMPLE.logins[self.username]
        self.my_cases = SAMPLE.cases_for(self.departments)
        try:
            self._sign_in()
        finally:
            self._barrier.arrived(self.environment)

    def _sign_in(self) -> None:
        """Sign in through the login form, as a browser does; stop this user if that fails."""
        self._get(SIGN_IN, name=SIGN_IN)
        form = {
            "username": self.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": self._csrf_token(),
            "next": "",
        }
        with self.client.post(
            SIGN_IN,
            data=form,
            headers={"Referer": f"{self.host}{SIGN_IN}"},
            allow_redirects=False,
            catch_response=True,
            name=SIGN_IN,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in as {self.username} answered {response.status_code}, not 302")
                raise StopUser
            response.success()

    def _csrf_token(self) -> str:
        """The CSRF token Django keeps in the ``csrftoken`` cookie (rotated at sign-in)."""
        return self.client.cookies.get("csrftoken") or ""

    def _get(self, path: str, *, name: str, headers: dict[str, str] | None = None) -> None:
        """GET a page; anything but 200 (a redirect to the login page, a 404...) is a failure."""
        with self.client.get(path, name=name, headers=headers, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{path} answered {response.status_code}")
            else:
                response.success()

    @task(12)
    def case_board(self) -> None:
        self._get("/cases/board/", name="/cases/board/")

    @task(8)
    def department_board(self) -> None:
        department = pick(self.departments or ("service",))
        self._get(f"/cases/board/?department={department}", name="/cases/board/?department=[code]")

    @task(10)
    def account_list(self) -> None:
        self._get("/accounts/", name="/accounts/")

    @task(8)
    def account_list_filtered(self) -> None:
        self._get(
            "/accounts/?state=empty&empty_cause=customer_incomplete",
            name="/accounts/?state=empty&empty_cause=customer_incomplete",
        )

    @task(4)
    def account_list_deep_page(self) -> None:
        self._get(f"/accounts/?page={SAMPLE.deep_page}", name="/accounts/?page=[deep]")

    @task(14)
    def account_detail(self) -> None:
        self._get(f"/accounts/{pick(SAMPLE.accounts)}/", name="/accounts/[number]/")

    @task(16)
    def case_detail(self) -> None:
        if not self.my_cases:
            return
        self._get(f"/cases/{pick(self.my_cases)}/", name="/cases/[id]/")

    @task(8)
    def case_list(self) -> None:
        self._get("/cases/", name="/cases/")

    @task(6)
    def dashboard(self) -> None:
        self._get("/", name="/")

    @task(2)
    def dashboard_refresh(self) -> None:
        """The figures htmx re-fetches every minute while the dashboard is open."""
        self._get("/", name="/ (htmx figures)", headers={"HX-Request": "true"})

    @task(5)
    def my_open_cases(self) -> None:
        self._get("/cases/mine/", name="/cases/mine/")

    @task(10)
    def comment_on_case(self) -> None:
        """The write (about one request in ten): a comment, posted from the case page."""
        if not self.my_cases:
            return
        case_id = pick(self.my_cases)
        page = f"/cases/{case_id}/"
        with self.client.post(
            f"{page}comment/",
            data={"text": pick(COMMENTS), "csrfmiddlewaretoken": self._csrf_token()},
            headers={"Referer": f"{self.host}{page}"},
            allow_redirects=False,
            catch_response=True,
            name="/cases/[id]/comment/",
        ) as response:
            if response.status_code != 302 or not response.headers.get("Location", "").endswith(page):
                response.failure(f"comment on case {case_id} as {self.username} answered {response.status_code}")
            else:
                response.success()
