"""The reference core-banking service: a separate process that plays the bank's core banking.

It serves exactly the contract in ``docs/core-banking.openapi.yaml`` (the ``/v1`` operations:
issue a card, move it between states, set its usable limit, read it, list the cards changed
since a cursor) and sends the contract's signed events to the portal's ``/api/core/events``. It
is for development, demos and tests; it imports nothing from the portal and keeps its own
SQLite file.

Running it
----------
::

    python -m corebank serve --host 127.0.0.1 --port 8001 --db var/corebank/core.sqlite3 \\
        [--seed cards.jsonl] [--events-url http://127.0.0.1:8000/api/core/events]
    python -m corebank load cards.jsonl --db var/corebank/core.sqlite3

``serve`` prints one line saying where it listens and where events go, and stops cleanly on
SIGTERM or SIGINT. Environment (flags override it where there is one):

* ``CORE_API_SECRETS``: comma-separated secrets accepted in ``X-Core-Signature`` on ``/v1``
  requests (two at once during a rotation); default ``dev-core-api-secret``.
* ``CORE_WEBHOOK_SECRETS``: comma-separated; webhooks are signed with the first; default
  ``dev-webhook-secret``.
* ``CORE_EVENTS_URL`` (``--events-url``): default ``http://127.0.0.1:8000/api/core/events``;
  an empty value keeps events in the outbox (nothing is delivered).

Other ``serve`` flags: ``--port 0`` (a free port, printed), ``--spec`` (another contract file),
``--threads`` (waitress threads, 16), ``--dispatch-workers`` (parallel deliveries, 4; the order
per account is kept), ``--retry-initial``/``--retry-max`` (webhook backoff, 1 s doubling to
60 s), ``--verbose``.

``load`` (and ``serve --seed``) bulk-inserts cards and their lines from JSON lines
``{"token", "account_number", "state", "product", "channel", "credit_limit", "usable_limit",
"ever_activated": bool}``: insert-or-ignore by token, no events, so loading a file twice changes
nothing. A million lines take about 20 s on a 2-core machine.

Behaviour beyond the contract's text
------------------------------------
* Idempotency: an answer decided by core's rules (2xx, ``404 CARD_NOT_FOUND``, ``409
  INVALID_TRANSITION``/``CARD_TOKEN_TAKEN``, ``422``) is stored under the key and replayed. An
  answer from the gate is not (``400``, ``401``, ``413``, ``503 CORE_DOWN``, ``500 CB-5001``):
  nothing was applied, so the same key may be sent again. Keys are global (one per decision),
  the fingerprint is method + path + the body with sorted keys.
* Asking for the usable limit a card already has answers ``200`` and emits no event, like a
  transition to the state the card is in.
* Reinstatement (``SUSPENDED`` → ``ACTIVE``) returns the card to the state it had when it was
  suspended; a card loaded or forced as ``SUSPENDED`` without that record goes back to
  ``ACTIVE`` if it was ever activated, ``UNACTIVATED`` otherwise.
* Events: ``event_id`` is ``evt_<uuid hex>``; ``idempotency_key`` is present when a portal
  command caused the event. Delivery is at least once (the portal deduplicates by
  ``event_id``), oldest first, in order per account; see :mod:`corebank.dispatcher`.

The ``/sim`` endpoints (not part of the contract; no signature)
---------------------------------------------------------------
Faults and simulation for demos and tests. Bodies are JSON; errors have the contract's shape.

``GET /sim/health``
    ``{"ok": true}``.
``GET /sim/faults`` / ``PUT /sim/faults``
    ``{"down": bool, "failure_rate": 0..1, "timeout_rate": 0..1, "timeout_seconds": number
    (10), "latency_ms": int, "config_fault_channels": [channel, ...], "seed": int}``. ``PUT``
    replaces only the keys given; an unknown key or a bad value answers ``400``. Meaning:

    * ``down``: every ``/v1`` request answers ``503 CORE_DOWN`` with ``Retry-After: 5``.
    * ``latency_ms``: every ``/v1`` request sleeps that long first.
    * ``failure_rate``: that share of ``/v1`` writes answer ``500 CB-5001`` without applying.
    * ``timeout_rate``: that share of ``/v1`` writes that apply something are applied (and
      their answer stored) but held ``timeout_seconds`` before being sent, so a client with a
      shorter timeout gives up; its retry with the same key gets the stored answer at once
      (replays are never held).
    * ``config_fault_channels``: issuing a card, or activating one (``UNACTIVATED`` →
      ``ACTIVE``), whose channel is listed answers ``422 CFG-CHANNEL-MISSING`` ("product X is
      not configured on channel Y"); a refused activation also emits ``card.activation_failed``.
      Both refusals are stored under the key: a retry gets the same ``422``, no second event.
    * ``seed``: the random draws come from ``random.Random(seed)``, reseeded on every ``PUT``,
      so the same settings and requests give the same failures.
``POST /sim/lines``
    ``{"account_number", "customer": {...}, "line": {...}}`` (the shapes of the contract's
    ``loan.approved`` data; the credit code's check character is verified): stores the line,
    emits ``loan.approved``; answers ``{"event": {...}}``.
``POST /sim/cards/{token}/state``
    ``{"state": "ACTIVE|SUSPENDED|TERMINATED|UNACTIVATED", "reason_code"?: "00|01|06|07|17"}``:
    a change decided inside core (e.g. the fraud team), applied whatever the transition rules
    say, with the matching event (``card.activated``, or ``card.reinstated`` from ``SUSPENDED``;
    ``card.suspended``; ``card.terminated``); ``UNACTIVATED`` emits nothing (how tests make core
    and the portal disagree). Answers ``{"card": {...}, "event": {...} | null}``.
``POST /sim/lines/{account_number}/steps``
    ``{"step": "sms_code|password"}``: emits ``verification.step_completed``.
``GET /sim/idempotency/{key}``
    ``{"key", "applications", "replays", "status_code"}``; ``404`` if unknown.
``GET /sim/cards/{token}``
    The card (as ``GET /v1/cards/{token}`` has it) plus ``ever_activated``,
    ``state_before_suspension`` and ``seq``.
``GET /sim/events?status=pending|delivered&limit=1000&account_number=``
    ``{"count", "events": [{"id", "event_id", "type", "account_number", "idempotency_key",
    "payload", "created_time", "delivered_at", "attempts", "next_attempt_at", "last_error"}]}``,
    oldest first.
``GET /sim/stats``
    ``{"cards": {state: n, "total"}, "lines", "events": {"pending", "delivered"},
    "idempotency": {"keys", "applications", "replays"}}``.
``POST /sim/reset``
    Empties every table and resets the faults (for tests).

Modules: :mod:`~corebank.contract` (the YAML compiled into validators), :mod:`~corebank.signing`,
:mod:`~corebank.store` (SQLite and the bulk load), :mod:`~corebank.bank` (core's rules and
idempotency), :mod:`~corebank.faults`, :mod:`~corebank.dispatcher` (webhooks),
:mod:`~corebank.app` (Falcon), :mod:`~corebank.server` (waitress, signals).
"""
