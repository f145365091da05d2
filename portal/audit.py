"""The audit trail no one can rewrite: the access log, and the hash chain over every audit table.

Three tables are the audit trail: account changes (``accounts.AuditEntry``), case timelines
(``casework.CaseEvent``) and the access log (``portal.SecurityEvent``: sign-ins, reveals of
personal data, exports). Each app registers its table here (``register``). On PostgreSQL a
trigger refuses any UPDATE or DELETE of them (``portal.append_only``); drills' synthetic rows
are the one exception, deleted only by a drill's purge.

Every row is then sealed: ``seal_pending`` (right after the commit of a transaction that saved
one, and every minute for rows written in bulk or committed out of order) appends one
``AuditSeal`` per row, whose hash covers the previous seal's hash and the row's content.
``verify`` walks the chain and names any row changed or removed behind the portal's back, and
any broken link (``manage.py verify_audit``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import post_save
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from portal.actors import person_name
from portal.heartbeat import heartbeat
from portal.models import AuditSeal, SecurityEvent

GENESIS = "0" * 64
# A row committed later than rows with higher ids is still found within this many ids by the
# periodic job; right after a commit, on the request's own time, only the newest ids are looked at
# (a row committed out of order is the job's, a minute later).
LOOKBACK_IDS = 100_000
AFTER_COMMIT_LOOKBACK_IDS = 1_000
_LOCK_KEY = 0x41554454  # "AUDT": one sealer at a time (a PostgreSQL advisory lock)


@dataclass(frozen=True)
class Sealed:
    label: str  # "app_label.ModelName"
    model: type[models.Model]
    exclude: Q  # rows never sealed: drills' synthetic data


SEALED: dict[str, Sealed] = {}


def register(model: type[models.Model], exclude: Q | None = None) -> None:
    """Make ``model`` part of the audit trail: its rows are sealed and verified."""
    label = model._meta.label
    SEALED[label] = Sealed(label, model, exclude or Q(pk__in=[]))
    post_save.connect(_written, sender=model, weak=False, dispatch_uid=f"audit-seal-{label}")


def _written(sender: Any, created: bool = False, **kwargs: Any) -> None:
    if created:
        seal_after_commit()


def _user(user: Any) -> Any:
    return user if isinstance(user, AbstractBaseUser) else None


def _name(actor: Any) -> str:
    """A person as colleagues call them; a part of the system (a job) by its name; nobody: empty."""
    if isinstance(actor, AbstractBaseUser):
        return person_name(actor)
    return "" if actor is None or isinstance(actor, AnonymousUser) else str(actor)


def client_ip(request: HttpRequest | None) -> str | None:
    """The address the request came from (REMOTE_ADDR: the proxy in front sets it, see README)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record(
    kind: str,
    *,
    actor: Any = None,  # a user, or the name of a part of the system (a job); default: the request's user
    request: HttpRequest | None = None,
    target_user: Any = None,
    subject_label: str = "",
    subject_id: int | None = None,
    field: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> SecurityEvent:
    """Write one line of the access log (in the caller's transaction); sealed after it commits."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    event = SecurityEvent.objects.create(
        kind=kind,
        actor=_user(actor),
        actor_name=_name(actor)[:150],
        target_user=_user(target_user),
        subject_id=subject_id,
        subject_label=subject_label[:200],
        field=field,
        reason=reason,
        details=details or {},
        ip_address=client_ip(request),
    )
    return event


def seal_after_commit() -> None:
    """Seal what this transaction wrote once it commits (the periodic job catches anything missed)."""
    connection_ = transaction.get_connection()
    if connection_.in_atomic_block and any(func is _seal_quietly for _sids, func, _robust in connection_.run_on_commit):
        return  # once per transaction, however many rows it writes
    transaction.on_commit(_seal_quietly)


def _seal_quietly() -> None:
    try:
        seal_pending(lookback=AFTER_COMMIT_LOOKBACK_IDS)
    except Exception:  # the periodic job seals it a minute later; a failed seal loses nothing
        import logging

        logging.getLogger(__name__).warning(
            "sealing the audit trail failed; the periodic job will retry", exc_info=True
        )


# --- the chain ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date | Decimal | timedelta):
        return str(value)
    return value


def _columns(model: type[models.Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def content_hash(prev_hash: str, label: str, row: dict[str, Any]) -> str:
    """SHA-256 over the previous link, the table and the row's columns (canonical JSON)."""
    body = json.dumps(
        {key: _plain(value) for key, value in row.items()}, sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(f"{prev_hash}\n{label}\n{body}".encode()).hexdigest()


def _unsealed(sealed: Sealed, *, lookback: int | None) -> models.QuerySet[Any]:
    """The rows of this table not sealed yet: all of them (``lookback`` None), or among the ids
    from ``lookback`` below the newest sealed one."""
    rows = sealed.model._default_manager.exclude(sealed.exclude).filter(
        ~Exists(AuditSeal.objects.filter(table=sealed.label, row_id=OuterRef("pk")))
    )
    if lookback is not None:
        newest = (
            AuditSeal.objects.filter(table=sealed.label).order_by("-row_id").values_list("row_id", flat=True).first()
        )
        if newest is not None:
            rows = rows.filter(pk__gt=newest - lookback)
    return rows


def seal_pending(*, full: bool = False, limit: int = 10_000, lookback: int = LOOKBACK_IDS) -> int:
    """Append a seal for each audit row not sealed yet, oldest first; returns how many.

    One sealer at a time: on PostgreSQL an advisory lock held to the end of this short
    transaction, which holds no other lock, so it cannot deadlock with the portal's writes.
    ``full`` looks at every row (the nightly check); otherwise the ids within ``lookback`` of the
    newest sealed one.
    """
    sealed_count = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        last = AuditSeal.objects.order_by("-seq").values_list("seq", "row_hash").first()
        seq, prev = last if last else (0, GENESIS)
        pending: list[tuple[Any, str, int, dict[str, Any]]] = []
        for sealed in SEALED.values():
            columns = _columns(sealed.model)
            unsealed = _unsealed(sealed, lookback=None if full else lookback)
            for row in unsealed.order_by("pk").values(*columns)[:limit]:
                pending.append((row.get("created_at") or timezone.now(), sealed.label, row["id"], row))
        pending.sort(key=lambda item: (item[0], item[1], item[2]))
        seals = []
        for _when, label, row_id, row in pending[:limit]:
            seq += 1
            row_hash = content_hash(prev, label, row)
            seals.append(AuditSeal(seq=seq, table=label, row_id=row_id, prev_hash=prev, row_hash=row_hash))
            prev = row_hash
        AuditSeal.objects.bulk_create(seals, batch_size=1000)
        sealed_count = len(seals)
    return sealed_count


@dataclass(frozen=True)
class Problem:
    seq: int | None
    table: str
    row_id: int | None
    what: str

    def __str__(self) -> str:
        where = f"{self.table} #{self.row_id}" if self.row_id is not None else self.table
        link = gettext("link %(seq)d") % {"seq": self.seq} if self.seq is not None else gettext("not sealed")
        return f"{where} ({link}): {self.what}"


@dataclass(frozen=True)
class Verification:
    links: int
    problems: list[Problem]
    unsealed: int

    @property
    def ok(self) -> bool:
        return not self.problems


def _chunks(chunk_size: int) -> Iterable[list[AuditSeal]]:
    after = 0
    while True:
        chunk = list(AuditSeal.objects.filter(seq__gt=after).order_by("seq")[:chunk_size])
        if not chunk:
            return
        yield chunk
        after = chunk[-1].seq


def verify(*, chunk_size: int = 2000, progress: Callable[[int], None] | None = None) -> Verification:
    """Walk the chain from its first link: every link follows the one before, every row is unchanged."""
    problems: list[Problem] = []
    prev = GENESIS
    expected_seq = 1
    links = 0
    for chunk in _chunks(chunk_size):
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        for label in {seal.table for seal in chunk}:
            sealed = SEALED.get(label)
            if sealed is None:
                continue
            ids = [seal.row_id for seal in chunk if seal.table == label]
            for row in sealed.model._default_manager.filter(pk__in=ids).values(*_columns(sealed.model)):
                rows[(label, row["id"])] = row
        for seal in chunk:
            links += 1
            if seal.seq != expected_seq:
                problems.append(Problem(seal.seq, seal.table, seal.row_id, gettext("links before it are missing")))
            if seal.prev_hash != prev:
                problems.append(
                    Problem(seal.seq, seal.table, seal.row_id, gettext("the chain is broken before this link"))
                )
            found = rows.get((seal.table, seal.row_id))
            if seal.table not in SEALED:
                problems.append(Problem(seal.seq, seal.table, seal.row_id, gettext("unknown table")))
            elif found is None:
                problems.append(Problem(seal.seq, seal.table, seal.row_id, gettext("the row has been deleted")))
            elif content_hash(seal.prev_hash, seal.table, found) != seal.row_hash:
                problems.append(
                    Problem(seal.seq, seal.table, seal.row_id, gettext("the row has been changed since it was sealed"))
                )
            prev = seal.row_hash
            expected_seq = seal.seq + 1
        if progress:
            progress(links)
    unsealed = sum(_unsealed(sealed, lookback=None).count() for sealed in SEALED.values())
    return Verification(links=links, problems=problems, unsealed=unsealed)


def seal_job() -> dict[str, int]:
    """Every minute: seal what the after-commit hook missed (a process stopped in between)."""
    with heartbeat("seal_audit") as counts:
        counts["sealed"] = seal_pending()
    return counts


def verify_job() -> dict[str, int]:
    """Nightly: seal everything, then verify the whole chain; a broken chain fails the job (jobs page)."""
    with heartbeat("verify_audit") as counts:
        counts["sealed"] = seal_pending(full=True, limit=10**9)
        result = verify()
        counts["links"] = result.links
        if not result.ok:
            raise AuditChainBroken("; ".join(str(problem) for problem in result.problems[:20]))
    return counts


class AuditChainBroken(Exception):
    """The audit chain does not verify: a row or a link has been changed behind the portal's back."""
