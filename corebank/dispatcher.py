"""The webhook dispatcher: delivers the events outbox to the portal, signed, in order, until it is taken.

Why it looks like this:

* The outbox is a table written in the same transaction as the change that caused the event,
  so an event exists exactly when its change does, and nothing is lost while the portal is down
  or when this process stops: a restart resumes the undelivered events.
* Delivered means the portal answered ``200``, or ``409`` with ``error_code`` ``DUPLICATE_EVENT``
  (it already has it). Anything else (refused connection, timeout, ``5xx``, another ``4xx``) is
  retried with exponential backoff, 1 s doubling up to 60 s, with ``attempts`` and
  ``last_error`` recorded.
* Order per account: while an account's older event is undelivered, its later events wait. Each
  round reads the oldest pending events, keeps for each account the due run of events from its
  oldest one, and delivers the accounts' runs in parallel (``workers`` threads), each run in order
  and stopping at its first failure. Different accounts do not wait for each other.
* When the portal cannot be reached at all (connection refused, timeout) the whole dispatcher
  pauses with the same backoff instead of knocking once for every waiting account.
* A ``threading.Event`` wakes it as soon as an event is written; otherwise it polls once a second.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from corebank import signing
from corebank.store import PendingEvent, Store, now_iso

log = logging.getLogger("corebank.dispatcher")

BATCH = 500
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0
GATHER_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Outcome:
    event: PendingEvent
    delivered: bool
    error: str = ""
    unreachable: bool = False


class Dispatcher:
    """A background thread delivering the outbox of ``store`` to ``url``."""

    def __init__(
        self,
        store: Store,
        url: str,
        secrets: Sequence[str],
        *,
        workers: int = 4,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if not secrets:
            raise ValueError("the dispatcher needs a webhook secret to sign with")
        if httpx.URL(url).scheme not in ("http", "https"):
            raise ValueError(f"the events URL must be http:// or https://, not {url!r}")
        self.store = store
        self.url = url
        self.secret = secrets[0]
        self.workers = max(1, workers)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.timeout = timeout
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="corebank-dispatcher", daemon=True)
        self._pause_until = 0.0
        self._unreachable_streak = 0

    def start(self) -> None:
        resumed = self.store.resume_pending()
        if resumed:
            log.info("resuming %d undelivered event(s)", resumed)
        self._thread.start()

    def notify(self) -> None:
        """An event was written: deliver it now rather than at the next poll."""
        self._wake.set()

    def reset(self) -> None:
        """Forget the pause after unreachable attempts (``/sim/reset``)."""
        self._pause_until = 0.0
        self._unreachable_streak = 0
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4, ... up to 60."""
        return float(min(self.retry_max, self.retry_initial * 2 ** min(max(0, attempts - 1), 30)))

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.workers, max_keepalive_connections=self.workers)
        with (
            httpx.Client(timeout=self.timeout, limits=limits, headers={"User-Agent": "corebank"}) as client,
            ThreadPoolExecutor(self.workers, thread_name_prefix="corebank-deliver") as pool,
        ):
            while not self._stop.is_set():
                # Let a few more events arrive: under a steady stream of commands, rounds of several
                # events share one outbox query and one write transaction instead of one each.
                self._stop.wait(GATHER_SECONDS)
                self._wake.clear()
                try:
                    delivered_any, wait = self._round(client, pool)
                except Exception:  # keep delivering after an unexpected error (e.g. the database is busy)
                    log.exception("dispatcher round failed")
                    delivered_any, wait = False, POLL_SECONDS
                if not delivered_any:
                    self._wake.wait(wait)

    def _round(self, client: httpx.Client, pool: ThreadPoolExecutor) -> tuple[bool, float]:
        """One pass over the oldest pending events; returns (delivered some, seconds to wait if not)."""
        now = time.time()
        if now < self._pause_until:
            return False, min(POLL_SECONDS, self._pause_until - now)
        pending = self.store.pending_events(BATCH)
        runs: dict[str, list[PendingEvent]] = {}
        blocked: set[str] = set()
        next_due = now + POLL_SECONDS
        for event in pending:
            account = event.account_number
            if account in blocked:
                continue
            if event.next_attempt_at > now:
                blocked.add(account)
                next_due = min(next_due, event.next_attempt_at)
                continue
            runs.setdefault(account, []).append(event)
        if not runs:
            return False, max(0.05, next_due - now)
        stop_all = threading.Event()
        results = list(pool.map(lambda run: self._deliver_run(client, run, stop_all), runs.values()))
        outcomes = [outcome for run in results for outcome in run]
        self._record(outcomes)
        delivered = any(outcome.delivered for outcome in outcomes)
        return delivered, max(0.05, min(next_due, self._pause_until or next_due) - time.time())

    def _deliver_run(self, client: httpx.Client, run: list[PendingEvent], stop_all: threading.Event) -> list[Outcome]:
        outcomes = []
        for event in run:
            if stop_all.is_set() or self._stop.is_set():
                break
            outcome = self._deliver(client, event)
            outcomes.append(outcome)
            if not outcome.delivered:
                if outcome.unreachable:
                    stop_all.set()
                break
        return outcomes

    def _deliver(self, client: httpx.Client, event: PendingEvent) -> Outcome:
        body = event.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(body, self.secret),
        }
        try:
            response = client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            return Outcome(event, False, f"{type(exc).__name__}: {exc}"[:1000], unreachable=True)
        except Exception as exc:  # anything else is this event's failure, retried like a refusal
            return Outcome(event, False, f"{type(exc).__name__}: {exc}"[:1000])
        if response.status_code == 200:
            return Outcome(event, True)
        if response.status_code == 409 and _error_code(response) == "DUPLICATE_EVENT":
            return Outcome(event, True)
        return Outcome(event, False, f"HTTP {response.status_code}: {response.text[:500]}")

    def _record(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        now = time.time()
        delivered = [outcome.event.id for outcome in outcomes if outcome.delivered]
        failed = [
            (outcome.event.id, now + self.backoff(outcome.event.attempts + 1), outcome.error)
            for outcome in outcomes
            if not outcome.delivered
        ]
        self.store.record_deliveries(delivered, failed, now_iso())
        unreachable = [outcome for outcome in outcomes if outcome.unreachable]
        if delivered and not unreachable:
            self._unreachable_streak = 0
        if unreachable:
            self._unreachable_streak += 1
            self._pause_until = now + self.backoff(self._unreachable_streak)
        for outcome in outcomes:
            if not outcome.delivered:
                log.warning(
                    "event %s (attempt %d) not delivered: %s",
                    outcome.event.event_id,
                    outcome.event.attempts + 1,
                    outcome.error,
                )


def _error_code(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    return data.get("error_code") if isinstance(data, dict) else None
