"""Reads for the portal's own pages: who the user is, and how the background machinery is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import django_rq
import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import DatabaseError, connection
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Worker
from rq.job import Job

from portal.models import Department, JobHeartbeat
from portal.periodic import PERIODIC_JOBS, PeriodicJob
from portal.roles import ADMIN, ROLES_BY_GROUP, Role

FAILED_JOBS_SHOWN = 20
PROBE_TIMEOUT = 0.3  # seconds a health check waits for Redis


def department_codes(user: User | AnonymousUser) -> frozenset[str]:
    """The user's departments, read once per user object."""
    cached: frozenset[str] | None = getattr(user, "_department_codes", None)
    if cached is None:
        if not user.is_authenticated:
            cached = frozenset()
        else:
            cached = frozenset(Department.objects.filter(members__user=user).values_list("code", flat=True))
        user._department_codes = cached  # type: ignore[union-attr]
    return cached


@dataclass(frozen=True)
class StaffSummary:
    """What the header and the dashboard say about the signed-in user."""

    roles: list[Role]
    departments: list[Department]

    @property
    def role_labels(self) -> list[str]:
        return [str(role.label) for role in self.roles]


def staff_summary(user: User | AnonymousUser) -> StaffSummary:
    """The user's roles (from their groups) and departments, in two queries."""
    if isinstance(user, AnonymousUser):
        return StaffSummary(roles=[], departments=[])
    group_names = user.groups.values_list("name", flat=True)
    roles = [ROLES_BY_GROUP[name] for name in group_names if name in ROLES_BY_GROUP]
    if user.is_superuser and ADMIN not in roles:
        roles.append(ADMIN)
    roles.sort(key=lambda role: list(ROLES_BY_GROUP.values()).index(role))
    departments = list(Department.objects.filter(members__user=user).order_by("code"))
    return StaffSummary(roles=roles, departments=departments)


def database_error() -> str | None:
    """None when the database answers a trivial query, else what went wrong."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def redis_error() -> str | None:
    """None when Redis answers PING at once, else what went wrong.

    One try with short timeouts: redis-py would otherwise retry three times with backoff, and a
    load balancer's probe must hear within half a second that Redis is down.
    """
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=PROBE_TIMEOUT,
        socket_timeout=PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    finally:
        client.close()
    return None


@dataclass(frozen=True)
class QueueSummary:
    name: str
    queued: int
    started: int
    scheduled: int
    deferred: int
    failed: int
    finished: int


@dataclass(frozen=True)
class WorkerSummary:
    name: str
    state: str
    queues: list[str]
    current_job: str | None
    last_heartbeat: datetime | None
    successful: int
    failed: int


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    function: str
    ended_at: datetime | None
    error: str


@dataclass
class JobsOverview:
    """Queues, workers and recent failures, or the reason Redis could not tell us."""

    queues: list[QueueSummary] = field(default_factory=list)
    workers: list[WorkerSummary] = field(default_factory=list)
    failed_jobs: list[FailedJob] = field(default_factory=list)
    error: str | None = None


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def jobs_overview() -> JobsOverview:
    """Counts per queue, the live workers and the latest failed jobs, read from Redis."""
    overview = JobsOverview()
    try:
        for name in sorted(settings.RQ_QUEUES):
            queue = django_rq.get_queue(name)
            overview.queues.append(
                QueueSummary(
                    name=name,
                    queued=queue.count,
                    started=queue.started_job_registry.count,
                    scheduled=queue.scheduled_job_registry.count,
                    deferred=queue.deferred_job_registry.count,
                    failed=queue.failed_job_registry.count,
                    finished=queue.finished_job_registry.count,
                )
            )
            failed_ids = queue.failed_job_registry.get_job_ids(0, FAILED_JOBS_SHOWN - 1)
            for job in Job.fetch_many(failed_ids, connection=queue.connection):
                if job is None:
                    continue
                result = job.latest_result()
                overview.failed_jobs.append(
                    FailedJob(
                        id=job.id,
                        queue=name,
                        function=job.func_name or job.id,
                        ended_at=job.ended_at,
                        error=_last_line(result.exc_string if result else None),
                    )
                )
        connection_ = django_rq.get_connection("default")
        for worker in Worker.all(connection=connection_):
            current = worker.get_current_job()
            overview.workers.append(
                WorkerSummary(
                    name=worker.name,
                    state=str(worker.get_state()),
                    queues=worker.queue_names(),
                    current_job=current.func_name if current else None,
                    last_heartbeat=worker.last_heartbeat,
                    successful=worker.successful_job_count,
                    failed=worker.failed_job_count,
                )
            )
    except (redis.RedisError, OSError) as exc:
        return JobsOverview(error=f"{type(exc).__name__}: {exc}".strip())
    overview.failed_jobs.sort(key=lambda job: job.ended_at or datetime.min, reverse=True)
    return overview


@dataclass(frozen=True)
class PeriodicStatus:
    job: PeriodicJob
    beat: JobHeartbeat | None

    @property
    def late(self) -> bool:
        return self.beat.is_late() if self.beat else False


def periodic_status() -> list[PeriodicStatus]:
    """Each periodic job with its last heartbeat (one query)."""
    beats = {beat.name: beat for beat in JobHeartbeat.objects.all()}
    return [PeriodicStatus(job, beats.get(job.name)) for job in PERIODIC_JOBS]
