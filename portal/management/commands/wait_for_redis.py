from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.embedded_redis import wait_until_ready


class Command(BaseCommand):
    help = "Wait until the Redis at REDIS_URL answers PING (used before starting the RQ worker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=30, help="Seconds to wait before giving up.")

    def handle(self, *args: object, **options: float) -> None:
        if not wait_until_ready(settings.REDIS_URL, options["timeout"]):
            raise CommandError(
                f"Redis at {settings.REDIS_URL} did not answer within {options['timeout']:g} s. "
                "Check that it is running, or unset REDIS_URL to use the embedded one."
            )
