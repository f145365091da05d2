"""Import runs: an uploaded CSV file checked and imported by a background job, with its progress.

The upload writes an ``ImportRun`` with the file and queues ``run_import`` after the commit;
the page then follows the run. The job checks every row (nothing locked, progress written as
it goes), then imports in one transaction (``accounts.ingest``): all rows or none. A run
whose job was lost (Redis down at the upload, a worker killed) is queued again by the
sweeper; the job is safe to run twice.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.ingest import ImportReport, accounts_import, errors_csv
from accounts.models import ImportRun
from portal.queueing import enqueue_now, enqueue_on_commit

JOB = "accounts.jobs.run_import"
# A run still queued this long after the upload, or running this long after it started, lost its job.
LOST_AFTER = {ImportRun.Status.QUEUED: timedelta(minutes=2), ImportRun.Status.CHECKING: timedelta(minutes=15)}


@transaction.atomic
def import_start(*, upload: Any, dry_run: bool, user: User) -> ImportRun:
    """Keep the uploaded file and queue its run; the page follows it from there."""
    if not user.has_perm("accounts.import_accounts"):
        raise PermissionDenied(_("Only credit officers import accounts."))
    run = ImportRun.objects.create(
        file_name=str(getattr(upload, "name", "upload.csv"))[:200],
        content=upload.read(),
        dry_run=dry_run,
        language=translation.get_language() or "",
        created_by=user,
    )
    enqueue_on_commit(JOB, run.pk)
    return run


def import_run(import_id: int) -> str:
    """Check the run's file, then import it (unless a dry run); record the result on the run."""
    now = timezone.now()
    claimed = ImportRun.objects.filter(pk=import_id, status=ImportRun.Status.QUEUED).update(
        status=ImportRun.Status.CHECKING, started_at=now, rows_checked=0
    )
    if not claimed:
        return "nothing to do"
    run = ImportRun.objects.get(pk=import_id)
    with translation.override(run.language or settings.LANGUAGE_CODE):  # read by whoever uploaded the file
        return _run(run)


def _run(run: ImportRun) -> str:
    import_id = run.pk

    def progress(rows_checked: int) -> None:
        ImportRun.objects.filter(pk=import_id).update(rows_checked=rows_checked)

    try:
        report = accounts_import(io.BytesIO(bytes(run.content)), dry_run=run.dry_run, progress=progress)
    except Exception as exc:  # recorded on the run for the person waiting on its page, then raised for RQ
        ImportRun.objects.filter(pk=import_id).update(
            status=ImportRun.Status.FAILED,
            finished_at=timezone.now(),
            summary=_("The import stopped with an error; nothing was imported: %(error)s") % {"error": exc},
        )
        raise
    _record(import_id, report)
    return str(report.summary())


def _record(import_id: int, report: ImportReport) -> None:
    if report.errors:
        status = ImportRun.Status.REFUSED
    elif report.dry_run:
        status = ImportRun.Status.CHECKED
    else:
        status = ImportRun.Status.DONE
    ImportRun.objects.filter(pk=import_id).update(
        status=status,
        rows=report.rows,
        rows_checked=report.rows,
        customers_created=report.customers_created,
        customers_updated=report.customers_updated,
        accounts_created=report.accounts_created,
        accounts_updated=report.accounts_updated,
        error_count=len(report.errors),
        errors_csv=errors_csv(report.errors) if report.errors else "",
        summary=report.summary(),
        finished_at=timezone.now(),
    )


def imports_requeue(*, now: datetime | None = None) -> dict[str, int]:
    """Queue again the runs whose job was lost: queued for 2 minutes, or checking for 15."""
    now = now or timezone.now()
    lost_queued = ImportRun.objects.filter(
        status=ImportRun.Status.QUEUED, created_at__lt=now - LOST_AFTER[ImportRun.Status.QUEUED]
    )
    died = ImportRun.objects.filter(
        status=ImportRun.Status.CHECKING, started_at__lt=now - LOST_AFTER[ImportRun.Status.CHECKING]
    )
    # The import itself is one transaction: a run whose worker died imported nothing; run it again.
    restarted = died.update(status=ImportRun.Status.QUEUED)
    ids = list(lost_queued.values_list("pk", flat=True)[:100])
    for import_id in ids:
        enqueue_now(JOB, import_id)
    return {"requeued": len(ids), "restarted": restarted}
