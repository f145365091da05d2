"""SQLite storage: lines, cards, idempotency records, the events outbox and the fault settings.

Why SQLite and how it is used:

* One file (``--db``), WAL mode and ``synchronous=NORMAL``: readers never wait for the writer,
  and a commit costs no fsync (a power cut may lose the last commits, never corrupt the file;
  fine for a development stand-in).
* Reads use one connection per thread (``threading.local``), in autocommit mode.
* Writes are serialised by a process-wide lock and all go through one writer connection, with
  an explicit ``BEGIN IMMEDIATE``. Waiting on a lock is cheaper and fairer than SQLite's
  sleep-and-retry busy handler (which stays as the guard against another process, e.g.
  ``python -m corebank load`` next to a running service). One writer connection rather than the
  thread's own: a connection drops its page cache whenever another connection has written, so
  with writes spread over sixteen request threads every command started cold; measured, the
  shared writer saves about 100 µs of CPU per command (of roughly 500 spent in the app).
* Because writes are serialised, ``seq`` (the change sequence behind ``GET /v1/cards``) can be
  taken as ``MAX(seq) + 1`` inside the write transaction: a reader never sees seq N+1 before N.
* An idempotency key is reserved in the same transaction that applies the command and stores its
  answer, so two concurrent requests with one key cannot both apply it.
* The service checkpoints the WAL from a background thread (``start_checkpointer``) instead of
  letting every thousandth commit do it: SQLite releases the GIL while it copies pages, so the
  copying no longer sits inside a request. Commits write about ten pages; every index costs
  one, which is why ``events.event_id`` (a random UUID nobody looks up) has none.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

DEFAULT_DB = Path("var/corebank/core.sqlite3")
BUSY_TIMEOUT_SECONDS = 10.0
INT64_MAX = 2**63 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    account_number TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    channel TEXT NOT NULL,
    approved_limit TEXT NOT NULL,
    customer TEXT,
    created_time TEXT NOT NULL,
    modified_time TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS cards (
    token TEXT PRIMARY KEY,
    account_number TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    product TEXT NOT NULL,
    channel TEXT NOT NULL,
    credit_limit TEXT NOT NULL,
    usable_limit TEXT NOT NULL,
    created_time TEXT NOT NULL,
    modified_time TEXT NOT NULL,
    activated_time TEXT,
    ever_activated INTEGER NOT NULL DEFAULT 0,
    state_before_suspension TEXT,
    seq INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS cards_seq ON cards (seq);

CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    applications INTEGER NOT NULL DEFAULT 0,
    replays INTEGER NOT NULL DEFAULT 0,
    in_progress INTEGER NOT NULL DEFAULT 1,
    created_time TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    account_number TEXT NOT NULL,
    idempotency_key TEXT,
    payload TEXT NOT NULL,
    created_time TEXT NOT NULL,
    delivered_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (id) WHERE delivered_at IS NULL;

CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    settings TEXT NOT NULL
);
"""

CARD_COLUMNS = (
    "token, account_number, state, product, channel, credit_limit, usable_limit, created_time, modified_time, "
    "activated_time, ever_activated, state_before_suspension, seq"
)


def now_iso() -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-12-02T08:30:00.123Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(slots=True)
class Card:
    token: str
    account_number: str
    state: str
    product: str
    channel: str
    credit_limit: str
    usable_limit: str
    created_time: str
    modified_time: str
    activated_time: str | None
    ever_activated: bool
    state_before_suspension: str | None
    seq: int

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Card:
        return cls(
            token=row[0],
            account_number=row[1],
            state=row[2],
            product=row[3],
            channel=row[4],
            credit_limit=row[5],
            usable_limit=row[6],
            created_time=row[7],
            modified_time=row[8],
            activated_time=row[9],
            ever_activated=bool(row[10]),
            state_before_suspension=row[11],
            seq=row[12],
        )

    def as_json(self) -> dict[str, Any]:
        """The contract's ``Card``."""
        return {
            "token": self.token,
            "account_number": self.account_number,
            "state": self.state,
            "product": self.product,
            "channel": self.channel,
            "credit_limit": self.credit_limit,
            "usable_limit": self.usable_limit,
            "created_time": self.created_time,
            "last_modified_time": self.modified_time,
            "activated_time": self.activated_time,
        }


def card_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """The contract's ``Card`` from the first ten columns of :data:`CARD_COLUMNS`."""
    return {
        "token": row[0],
        "account_number": row[1],
        "state": row[2],
        "product": row[3],
        "channel": row[4],
        "credit_limit": row[5],
        "usable_limit": row[6],
        "created_time": row[7],
        "last_modified_time": row[8],
        "activated_time": row[9],
    }


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    key: str
    fingerprint: str
    status_code: int | None
    response_body: str | None
    applications: int
    replays: int
    in_progress: bool


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    event_id: str
    account_number: str
    payload: str
    attempts: int
    next_attempt_at: float


class Store:
    """The service's SQLite file: a read connection per thread, one writer connection behind a lock."""

    def __init__(self, path: Path | str = DEFAULT_DB) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        self._writer: sqlite3.Connection | None = None
        conn = self.connection()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for reads outside a write transaction."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False: the writer is used by whichever thread holds the write lock,
        # and close() closes every connection from the main thread at exit.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16000")
        conn.execute("PRAGMA mmap_size=1073741824")
        conn.execute("PRAGMA temp_store=MEMORY")
        if self._checkpointer is not None:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) on the writer connection, committed unless the block raises."""
        with self.write_lock:
            if self._writer is None:
                self._writer = self._connect()
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def start_checkpointer(self, interval: float = 0.5) -> None:
        """Checkpoint the WAL every ``interval`` seconds in a thread of its own (see the module docstring)."""
        if self._checkpointer is not None:
            return

        def run() -> None:
            conn = self.connection()
            while not self._closing.wait(interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or locked: the next round will do it
                    continue

        self._checkpointer = threading.Thread(target=run, name="corebank-checkpoint", daemon=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer.start()

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
            with contextlib.suppress(sqlite3.Error):
                self.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):  # closing at exit is best effort
                conn.close()
        self._local = threading.local()
        self._writer = None

    # --- cards and lines ----------------------------------------------------------------------

    def card(self, token: str, conn: sqlite3.Connection | None = None) -> Card | None:
        row = (
            (conn or self.connection())
            .execute(
                f"SELECT {CARD_COLUMNS} FROM cards WHERE token = ?",  # noqa: S608 - constant column list
                (token,),
            )
            .fetchone()
        )
        return Card.from_row(row) if row else None

    def card_for_account(self, conn: sqlite3.Connection, account_number: str) -> Card | None:
        row = conn.execute(
            f"SELECT {CARD_COLUMNS} FROM cards WHERE account_number = ?",  # noqa: S608 - constant column list
            (account_number,),
        ).fetchone()
        return Card.from_row(row) if row else None

    @staticmethod
    def next_seq(conn: sqlite3.Connection) -> int:
        (value,) = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM cards").fetchone()
        return int(value)

    def insert_card(self, conn: sqlite3.Connection, card: Card) -> None:
        conn.execute(
            f"INSERT INTO cards ({CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                card.token,
                card.account_number,
                card.state,
                card.product,
                card.channel,
                card.credit_limit,
                card.usable_limit,
                card.created_time,
                card.modified_time,
                card.activated_time,
                int(card.ever_activated),
                card.state_before_suspension,
                card.seq,
            ),
        )

    def save_card(self, conn: sqlite3.Connection, card: Card) -> None:
        """Write back a changed card (every mutable column; seq and modified time set by the caller)."""
        conn.execute(
            "UPDATE cards SET state = ?, usable_limit = ?, modified_time = ?, activated_time = ?, "
            "ever_activated = ?, state_before_suspension = ?, seq = ? WHERE token = ?",
            (
                card.state,
                card.usable_limit,
                card.modified_time,
                card.activated_time,
                int(card.ever_activated),
                card.state_before_suspension,
                card.seq,
                card.token,
            ),
        )

    def changed_cards(self, since: int, count: int) -> tuple[list[tuple[Any, ...]], bool]:
        """Up to ``count`` cards with ``seq > since`` in seq order, and whether more follow."""
        rows = (
            self.connection()
            .execute(
                f"SELECT {CARD_COLUMNS} FROM cards WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (min(since, INT64_MAX), count + 1),
            )
            .fetchall()
        )
        return rows[:count], len(rows) > count

    def ensure_line(
        self, conn: sqlite3.Connection, account_number: str, product: str, channel: str, limit: str, now: str
    ) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO lines (account_number, product, channel, approved_limit, customer, created_time, "
            "modified_time) VALUES (?, ?, ?, ?, NULL, ?, ?)",
            (account_number, product, channel, limit, now, now),
        )

    def upsert_line(
        self,
        conn: sqlite3.Connection,
        account_number: str,
        line: dict[str, Any],
        customer: dict[str, Any],
        now: str,
    ) -> None:
        conn.execute(
            "INSERT INTO lines (account_number, product, channel, approved_limit, customer, created_time, "
            "modified_time) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_number) DO UPDATE SET "
            "product = excluded.product, channel = excluded.channel, approved_limit = excluded.approved_limit, "
            "customer = excluded.customer, modified_time = excluded.modified_time",
            (
                account_number,
                line["product"],
                line["channel"],
                line["approved_limit"],
                json.dumps(customer, ensure_ascii=False),
                now,
                now,
            ),
        )

    # --- idempotency --------------------------------------------------------------------------

    def idempotency(self, key: str, conn: sqlite3.Connection | None = None) -> IdempotencyRecord | None:
        row = (
            (conn or self.connection())
            .execute(
                "SELECT key, fingerprint, status_code, response_body, applications, replays, in_progress "
                "FROM idempotency WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return IdempotencyRecord(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))

    @staticmethod
    def count_replay(conn: sqlite3.Connection, key: str) -> None:
        conn.execute("UPDATE idempotency SET replays = replays + 1 WHERE key = ?", (key,))

    @staticmethod
    def store_answer(
        conn: sqlite3.Connection,
        key: str,
        fingerprint: str,
        method: str,
        path: str,
        status_code: int,
        response_body: str,
        now: str,
    ) -> None:
        conn.execute(
            "INSERT INTO idempotency (key, fingerprint, method, path, status_code, response_body, applications, "
            "replays, in_progress, created_time) VALUES (?, ?, ?, ?, ?, ?, 1, 0, 0, ?)",
            (key, fingerprint, method, path, status_code, response_body, now),
        )

    # --- events -------------------------------------------------------------------------------

    @staticmethod
    def insert_event(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO events (event_id, type, account_number, idempotency_key, payload, created_time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                event["event_id"],
                event["type"],
                event["account_number"],
                event.get("idempotency_key"),
                json.dumps(event, ensure_ascii=False, separators=(",", ":")),
                event["occurred_at"],
            ),
        )

    def pending_events(self, limit: int) -> list[PendingEvent]:
        rows = (
            self.connection()
            .execute(
                "SELECT id, event_id, account_number, payload, attempts, next_attempt_at FROM events "
                "WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [PendingEvent(*row) for row in rows]

    def record_deliveries(
        self, delivered: Iterable[int], failed: Iterable[tuple[int, float, str]], now: str | None = None
    ) -> None:
        """Mark events delivered, or failed with the time of their next attempt and the error."""
        stamp = now or now_iso()
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE events SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                [(stamp, event_id) for event_id in delivered],
            )
            conn.executemany(
                "UPDATE events SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                [(next_at, error[:1000], event_id) for event_id, next_at, error in failed],
            )

    def resume_pending(self) -> int:
        """Make every undelivered event due now (a restart retries at once instead of sitting out its backoff)."""
        with self.transaction() as conn:
            return conn.execute("UPDATE events SET next_attempt_at = 0 WHERE delivered_at IS NULL").rowcount

    def events(
        self, status: str | None = None, limit: int = 1000, account_number: str | None = None
    ) -> list[dict[str, Any]]:
        clauses = []
        params: list[Any] = []
        if status == "pending":
            clauses.append("delivered_at IS NULL")
        elif status == "delivered":
            clauses.append("delivered_at IS NOT NULL")
        if account_number:
            clauses.append("account_number = ?")
            params.append(account_number)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self.connection()
            .execute(
                "SELECT id, event_id, type, account_number, idempotency_key, payload, created_time, "  # noqa: S608
                f"delivered_at, attempts, next_attempt_at, last_error FROM events {where} ORDER BY id LIMIT ?",
                (*params, limit),
            )
            .fetchall()
        )
        return [
            {
                "id": row[0],
                "event_id": row[1],
                "type": row[2],
                "account_number": row[3],
                "idempotency_key": row[4],
                "payload": json.loads(row[5]),
                "created_time": row[6],
                "delivered_at": row[7],
                "attempts": row[8],
                "next_attempt_at": row[9] or None,
                "last_error": row[10],
            }
            for row in rows
        ]

    # --- faults and housekeeping --------------------------------------------------------------

    def load_faults(self) -> dict[str, Any] | None:
        row = self.connection().execute("SELECT settings FROM faults WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None

    def save_faults(self, settings: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO faults (id, settings) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET settings = ?",
                (json.dumps(settings), json.dumps(settings)),
            )

    def stats(self) -> dict[str, Any]:
        conn = self.connection()
        by_state = dict(conn.execute("SELECT state, COUNT(*) FROM cards GROUP BY state").fetchall())
        states = {state: int(by_state.get(state, 0)) for state in ("UNACTIVATED", "ACTIVE", "SUSPENDED", "TERMINATED")}
        (lines,) = conn.execute("SELECT COUNT(*) FROM lines").fetchone()
        pending, delivered = conn.execute(
            "SELECT COALESCE(SUM(delivered_at IS NULL), 0), COALESCE(SUM(delivered_at IS NOT NULL), 0) FROM events"
        ).fetchone()
        keys, applications, replays = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(applications), 0), COALESCE(SUM(replays), 0) FROM idempotency"
        ).fetchone()
        return {
            "cards": {**states, "total": sum(states.values())},
            "lines": lines,
            "events": {"pending": pending, "delivered": delivered},
            "idempotency": {"keys": keys, "applications": applications, "replays": replays},
        }

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in ("cards", "lines", "idempotency", "events", "faults"):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


# --- bulk load ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,36}")
_ACCOUNT = re.compile(r"[A-Z]{2}[0-9]{6,16}")
_MONEY = re.compile(r"(0|[1-9][0-9]{0,11})\.[0-9]{2}")
_CHANNEL = re.compile(r"[^\x00-\x1f\x7f]{1,60}")
STATES = frozenset({"UNACTIVATED", "ACTIVE", "SUSPENDED", "TERMINATED"})
PRODUCTS = frozenset({"working_capital", "project_finance", "equipment_purchase"})
LOAD_KEYS = frozenset(
    {"token", "account_number", "state", "product", "channel", "credit_limit", "usable_limit", "ever_activated"}
)


class LoadError(Exception):
    """A line of a load file that cannot be loaded; names the line."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    read: int
    inserted: int
    seconds: float


def _load_row(number: int, text: str, now: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise LoadError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(item, dict):
        raise LoadError(f"line {number}: not a JSON object")
    missing = LOAD_KEYS - item.keys()
    if missing:
        raise LoadError(f"line {number}: missing {', '.join(sorted(missing))}")
    token, account, state, product, channel = (
        item["token"],
        item["account_number"],
        item["state"],
        item["product"],
        item["channel"],
    )
    credit, usable, ever = item["credit_limit"], item["usable_limit"], item["ever_activated"]
    problems = [
        name
        for name, ok in (
            ("token", isinstance(token, str) and _TOKEN.fullmatch(token)),
            ("account_number", isinstance(account, str) and _ACCOUNT.fullmatch(account)),
            ("state", state in STATES),
            ("product", product in PRODUCTS),
            ("channel", isinstance(channel, str) and _CHANNEL.fullmatch(channel)),
            ("credit_limit", isinstance(credit, str) and _MONEY.fullmatch(credit)),
            ("usable_limit", isinstance(usable, str) and _MONEY.fullmatch(usable)),
            ("ever_activated", isinstance(ever, bool)),
        )
        if not ok
    ]
    if problems:
        raise LoadError(f"line {number}: invalid {', '.join(problems)}")
    if Decimal(usable) > Decimal(credit):
        raise LoadError(f"line {number}: usable_limit is above credit_limit")
    activated = bool(ever) or state == "ACTIVE"
    card: tuple[Any, ...] = (token, account, state, product, channel, credit, usable, now, now)
    card += (now if activated else None, int(activated), None)
    line = (account, product, channel, credit, now, now)
    return card, line


def load_cards(store: Store, source: IO[str], *, batch_size: int = 50_000) -> LoadResult:
    """Insert-or-ignore cards (by token) and their lines from JSON lines; no events.

    Each batch is one ``executemany`` in one transaction, numbered (``seq``) inside that
    transaction after the highest seq there is, so a load next to a running service cannot
    collide with its changes. Loading the same file again changes nothing: every token is there.
    A bad line stops the load with :class:`LoadError`; the batches before it stay (and a second
    run, after the fix, skips them).
    """
    started = time.perf_counter()
    now = now_iso()
    read = inserted = 0
    cards: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []

    def flush() -> int:
        if not cards:
            return 0
        with store.transaction() as tx:
            first = Store.next_seq(tx)
            before = tx.total_changes
            tx.executemany(
                f"INSERT OR IGNORE INTO cards ({CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                [(*card, first + offset) for offset, card in enumerate(cards)],
            )
            added = tx.total_changes - before
            tx.executemany(
                "INSERT OR IGNORE INTO lines (account_number, product, channel, approved_limit, created_time, "
                "modified_time) VALUES (?, ?, ?, ?, ?, ?)",
                lines,
            )
        cards.clear()
        lines.clear()
        return added

    with store.transaction() as tx:
        tx.execute("PRAGMA cache_size=-262144")  # a big page cache keeps the three B-trees' inserts in memory
    try:
        for number, text in enumerate(source, start=1):
            if not text.strip():
                continue
            card, line = _load_row(number, text, now)
            read += 1
            cards.append(card)
            lines.append(line)
            if len(cards) >= batch_size:
                inserted += flush()
        inserted += flush()
    finally:
        with store.transaction() as tx:
            tx.execute("PRAGMA cache_size=-16000")
    return LoadResult(read=read, inserted=inserted, seconds=time.perf_counter() - started)
