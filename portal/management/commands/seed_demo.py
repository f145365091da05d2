from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.demo import demo_accounts_create
from accounts.models import LoanAccount
from casework.demo import demo_cases_create, demo_studies_create
from portal.services import DEMO_PASSWORD, demo_staff_ensure


class Command(BaseCommand):
    help = (
        "Create the demo data: one login per role (password 'demo') and realistic customers and "
        "loan accounts in every state. Safe to run again: it only tops the accounts up to --accounts. "
        "Refuses to run with DJANGO_DEBUG=0 unless given --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accounts",
            type=int,
            default=200,
            metavar="N",
            help="How many (non-drill) demo loan accounts there should be (default 200).",
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
        wanted = options["accounts"]
        if not isinstance(wanted, int) or wanted < 0:
            raise CommandError("--accounts must be 0 or more.")
        staff = demo_staff_ensure()
        existing = LoanAccount.objects.filter(is_drill=False).count()
        created = demo_accounts_create(count=wanted - existing) if wanted > existing else 0
        self.stdout.write(f"Loan accounts: {existing + created} ({created} created now).")
        cases = demo_cases_create()
        if cases:
            self.stdout.write(f"Cases opened for empty accounts: {cases}.")
        lead = User.objects.filter(username="lead").first()
        if lead is not None and demo_studies_create(lead):
            self.stdout.write("Case studies: the two of the seed article.")

        width = max(len(member.username) for member in staff)
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):"))
        for member in staff:
            departments = ", ".join(member.departments) or "-"
            self.stdout.write(f"  {member.username:<{width}}  {member.role.label} ({departments})")
