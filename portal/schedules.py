"""Registers every periodic job of ``portal.periodic`` with RQ's cron (``manage.py rqcron portal.schedules``)."""

from django.utils.module_loading import import_string
from rq import cron

from portal.periodic import PERIODIC_JOBS

for job in PERIODIC_JOBS:
    cron.register(import_string(job.path), queue_name="default", interval=job.interval_seconds, name=job.name)
