"""``python -m corebank serve|load``: see :mod:`corebank` for what each does."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from corebank.contract import ContractError
from corebank.server import ServeOptions, configure_logging, load, serve
from corebank.signing import parse_secrets
from corebank.store import DEFAULT_DB, LoadError

DEFAULT_API_SECRETS = "dev-core-api-secret"
DEFAULT_WEBHOOK_SECRETS = "dev-webhook-secret"
DEFAULT_EVENTS_URL = "http://127.0.0.1:8000/api/core/events"


def _secrets(name: str, default: str) -> tuple[str, ...]:
    secrets = parse_secrets(os.environ.get(name, default))
    if not secrets:
        raise SystemExit(f"corebank: {name} is set but holds no secret")
    return secrets


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m corebank",
        description="The reference core-banking service of docs/core-banking.openapi.yaml.",
    )
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "serve",
        help="serve /v1 (the contract) and /sim, and deliver events to the portal",
        description="Environment: CORE_API_SECRETS (accepted on requests, comma-separated), "
        "CORE_WEBHOOK_SECRETS (the first signs webhooks), CORE_EVENTS_URL.",
    )
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed on start)")
    run.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    run.add_argument("--seed", type=Path, help="JSON lines of cards to load at start-up (insert-or-ignore)")
    run.add_argument(
        "--events-url",
        default=os.environ.get("CORE_EVENTS_URL", DEFAULT_EVENTS_URL),
        help="where events are POSTed (default CORE_EVENTS_URL or %(default)s); empty: keep them in the outbox",
    )
    run.add_argument("--spec", type=Path, help="the contract (default docs/core-banking.openapi.yaml of this repo)")
    run.add_argument("--threads", type=int, default=16, help="waitress worker threads")
    run.add_argument(
        "--dispatch-workers", type=int, default=4, help="parallel webhook deliveries (per account in order)"
    )
    run.add_argument("--retry-initial", type=float, default=1.0, help="first webhook retry delay, seconds")
    run.add_argument("--retry-max", type=float, default=60.0, help="longest webhook retry delay, seconds")
    run.add_argument("--verbose", action="store_true", help="log at INFO (deliveries resumed, etc.)")

    bulk = commands.add_parser("load", help="bulk-insert cards and their lines from JSON lines (no events)")
    bulk.add_argument("file", type=Path, help="JSON lines file, or - for standard input")
    bulk.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    bulk.add_argument("--batch-size", type=int, default=50_000, help="rows per transaction")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    try:
        if args.command == "load":
            return load(args.file, args.db, args.batch_size)
        if args.events_url and urlsplit(args.events_url).scheme not in ("http", "https"):
            raise SystemExit(f"corebank: the events URL must be http:// or https://, not {args.events_url!r}")
        options = ServeOptions(
            host=args.host,
            port=args.port,
            db=args.db,
            events_url=args.events_url,
            api_secrets=_secrets("CORE_API_SECRETS", DEFAULT_API_SECRETS),
            webhook_secrets=_secrets("CORE_WEBHOOK_SECRETS", DEFAULT_WEBHOOK_SECRETS),
            spec=args.spec,
            seed=args.seed,
            threads=args.threads,
            dispatch_workers=args.dispatch_workers,
            retry_initial=args.retry_initial,
            retry_max=args.retry_max,
        )
        return serve(options)
    except (ContractError, LoadError, OSError) as exc:
        print(f"corebank: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
