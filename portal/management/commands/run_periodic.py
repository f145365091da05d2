from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string

from portal.periodic import PERIODIC_JOBS


class Command(BaseCommand):
    help = "Run one periodic job now, in this process (it records its heartbeat as usual)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=[job.name for job in PERIODIC_JOBS])

    def handle(self, *args: object, **options: object) -> None:
        job = next(job for job in PERIODIC_JOBS if job.name == options["name"])
        counts = import_string(job.path)()
        self.stdout.write(f"{job.name}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
