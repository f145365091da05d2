from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.services import DEMO_PASSWORD, demo_staff_ensure


class Command(BaseCommand):
    help = (
        "Create the demo data: one login per role (password 'demo'). Safe to run again. "
        "Refuses to run with DJANGO_DEBUG=0 unless given --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accounts",
            type=int,
            default=0,
            metavar="N",
            help="How many demo loan accounts to create (used once the accounts module has data).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DJANGO_DEBUG=0 (creates logins with a known password!).",
        )

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates logins with the known password 'demo' and refuses to run with "
                "DJANGO_DEBUG=0. Use --force if this really is a demo installation."
            )
        accounts = options["accounts"]
        if not isinstance(accounts, int) or accounts < 0:
            raise CommandError("--accounts must be 0 or more.")
        staff = demo_staff_ensure()
        width = max(len(member.username) for member in staff)
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):"))
        for member in staff:
            departments = ", ".join(member.departments) or "-"
            self.stdout.write(f"  {member.username:<{width}}  {member.role.label} ({departments})")
