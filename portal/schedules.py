"""Registers every periodic job of ``portal.periodic`` with RQ's cron (``manage.py rqcron portal.schedules``)."""

from django.utils.module_loading import import_string
from rq import cron

from portal.periodic import PERIODIC_JOBS

for job in PERIODIC_JOBS:
    if job.cron:  # at a set local time: Django sets the process's TZ to TIME_ZONE, which cron follows
        cron.register(import_string(job.path), queue_name="default", cron=job.cron, name=job.name)
    else:
        cron.register(import_string(job.path), queue_name="default", interval=job.interval_seconds, name=job.name)
