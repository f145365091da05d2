"""Running the service: waitress (threads) in front of the Falcon app, plus the webhook dispatcher.

Waitress answers some errors itself before the app sees the request (a malformed request line,
headers too large, a body over its own cap); a small channel subclass makes those answers JSON
in the contract's error shape too. Its body cap is set well above the contract's 1 MB so that the
app, not waitress, answers the ordinary ``413`` (and the connection stays usable).

SIGTERM and SIGINT stop the server, cut short any sleeping fault (latency, held answers), stop
the dispatcher and close the database. The signal handler only sets a flag that the poll loop
checks, rather than raising ``SystemExit`` for waitress's ``run()`` to catch: an exception raised
at an arbitrary point of the main thread could land in one of waitress's bare ``except:`` blocks
(trigger thunks, ``handle_error``) and be swallowed, leaving the process running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from corebank.app import STATUS_CODES, create_app
from corebank.bank import CoreBank, error_body
from corebank.contract import Contract
from corebank.dispatcher import Dispatcher
from corebank.faults import Faults
from corebank.store import Store, load_cards

log = logging.getLogger("corebank")
WAITRESS_MAX_BODY = 16 * 1_048_576


class _JsonErrorTask(ErrorTask):
    """Waitress's own error answers (400, 413, 431, 500) as ``{"error_code", "error_message"}``."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps(
            error_body(STATUS_CODES.get(error.code, f"HTTP_{error.code}"), f"{error.reason}: {error.body}")
        ).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _JsonErrorChannel(HTTPChannel):
    error_task_class = _JsonErrorTask


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    db: Path
    events_url: str
    api_secrets: tuple[str, ...]
    webhook_secrets: tuple[str, ...]
    spec: Path | None = None
    seed: Path | None = None
    threads: int = 16
    dispatch_workers: int = 4
    retry_initial: float = 1.0
    retry_max: float = 60.0


def serve(options: ServeOptions) -> int:
    contract = Contract.load(options.spec)
    store = Store(options.db)
    if options.seed:
        with options.seed.open(encoding="utf-8") as source:
            result = load_cards(store, source)
        print(
            f"corebank: seeded {result.inserted} new card(s) of {result.read} from {options.seed} "
            f"in {result.seconds:.1f} s",
            flush=True,
        )
    store.start_checkpointer()
    faults = Faults(store)
    dispatcher = None
    if options.events_url:
        dispatcher = Dispatcher(
            store,
            options.events_url,
            options.webhook_secrets,
            workers=options.dispatch_workers,
            retry_initial=options.retry_initial,
            retry_max=options.retry_max,
        )
    bank = CoreBank(store, faults, dispatcher.notify if dispatcher else lambda: None)
    halt = threading.Event()
    app = create_app(contract, store, bank, faults, options.api_secrets, dispatcher=dispatcher, halt=halt)
    server = create_server(
        app,
        host=options.host,
        port=options.port,
        threads=options.threads,
        ident="corebank",
        max_request_body_size=WAITRESS_MAX_BODY,
        connection_limit=1000,
        channel_timeout=120,
    )
    _json_errors(server)

    def stop(signum: int, frame: FrameType | None) -> None:
        # Only set a flag: an exception raised here could land inside one of waitress's bare
        # "except:" blocks and be swallowed, leaving the server running.
        halt.set()
        server.pull_trigger()  # wake the poll loop now rather than at its next timeout

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    where = f"http://{options.host}:{server.effective_port}"
    events = options.events_url or "nowhere (no events URL: they stay in the outbox)"
    print(f"corebank: listening on {where} (db {options.db}); events to {events}", flush=True)
    if dispatcher:
        dispatcher.start()
    try:
        while not halt.is_set():  # waitress's own run(), one poll at a time so that halt is seen
            wasyncore.loop(
                timeout=server.adj.asyncore_loop_timeout,
                map=server.map if hasattr(server, "map") else server._map,
                use_poll=server.adj.asyncore_use_poll,
                count=1,
            )
    finally:
        halt.set()
        with contextlib.suppress(OSError):
            server.close()
        if dispatcher:
            dispatcher.stop()
        store.close()
        print("corebank: stopped", flush=True)
    return 0


def _json_errors(server: object) -> None:
    """Give every listening socket the JSON error channel (new connections pick it up)."""
    servers = [server, *getattr(server, "map", {}).values()]
    for candidate in servers:
        if isinstance(candidate, BaseWSGIServer):
            candidate.channel_class = _JsonErrorChannel


def load(file: Path, db: Path, batch_size: int) -> int:
    store = Store(db)
    try:
        with sys.stdin if str(file) == "-" else file.open(encoding="utf-8") as source:
            result = load_cards(store, source, batch_size=batch_size)
    finally:
        store.close()
    print(
        f"corebank: read {result.read} line(s), inserted {result.inserted} new card(s) into {db} "
        f"in {result.seconds:.1f} s",
        flush=True,
    )
    return 0


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="corebank %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


__all__: Sequence[str] = ("ServeOptions", "configure_logging", "load", "serve")
