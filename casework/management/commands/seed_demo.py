import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils.translation import gettext

from accounts.demo import demo_accounts_create
from accounts.models import LoanAccount
from casework.demo import (
    demo_cases_create,
    demo_feedback_create,
    demo_history_create,
    demo_playbook_change_create,
    demo_studies_create,
)
from casework.models import Case
from portal.roles import DEPARTMENTS
from portal.services import DEMO_PASSWORD, demo_staff_ensure

# With --cases, this share of the cases are the open cases of empty accounts.
OPEN_SHARE = 0.6
# Closed cases from the past a plain seed_demo adds (once), spread over the active accounts.
DEFAULT_HISTORY = 60


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
            "--cases",
            type=int,
            default=None,
            metavar="M",
            help=(
                "How many (non-drill) cases there should be. Without it every empty account gets its open case and "
                "about one account in five is empty; with it the share of empty accounts is set so that about 60%% "
                "of M are open cases, and closed cases from the past make up the rest."
            ),
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
        wanted_cases = options["cases"]
        if wanted_cases is not None and (not isinstance(wanted_cases, int) or wanted_cases < 0):
            raise CommandError("--cases must be 0 or more.")
        started = time.monotonic()
        staff = demo_staff_ensure()
        existing = LoanAccount.objects.filter(is_drill=False).count()
        empty_share = None
        if wanted_cases is not None and wanted:
            empty_share = min(0.2, max(0.005, OPEN_SHARE * wanted_cases / wanted))
        created = demo_accounts_create(count=wanted - existing, empty_share=empty_share) if wanted > existing else 0
        counts = {"total": existing + created, "created": created}
        self.stdout.write(gettext("Loan accounts: %(total)d (%(created)d created now).") % counts)
        opened = demo_cases_create()
        history = 0
        if wanted_cases is not None:
            history = demo_history_create(wanted_cases - Case.objects.filter(is_drill=False).count())
        elif not Case.objects.filter(is_drill=False, resolved_at__isnull=False).exists():
            # A lived-in desk: problems fixed over the past weeks, so that every chart and SLA figure has data.
            history = demo_history_create(DEFAULT_HISTORY)
        if opened or history:
            self.stdout.write(
                gettext("Cases: %(opened)d opened for empty accounts, %(history)d closed ones from the past.")
                % {"opened": opened, "history": history}
            )
        if (created or history) and connection.vendor == "postgresql":
            # Fresh statistics and visibility maps, as autovacuum would leave them later: the planner
            # needs the first, index-only scans (deep pages) the second.
            with connection.cursor() as cursor:
                # VACUUM cannot run inside a transaction (e.g. when a caller wraps the command).
                cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        lead = User.objects.filter(username="lead").first()
        feedback = demo_feedback_create()
        if feedback:
            self.stdout.write(gettext("Customer feedback: %(count)d complaints on open cases.") % {"count": feedback})
        if lead is not None and demo_studies_create(lead):
            self.stdout.write(gettext("Case studies: the two of the article the product grew from."))
        approver = User.objects.filter(username="admin").first()
        if lead is not None and approver is not None and demo_playbook_change_create(lead, approver):
            self.stdout.write(gettext("Playbooks: version 2 of the system-config playbook, from its case study."))

        width = max(len(member.username) for member in staff)
        logins = gettext("Demo logins (password for all: %(password)s):") % {"password": DEMO_PASSWORD}
        self.stdout.write(self.style.SUCCESS(logins))
        names = {code: gettext(name) for code, name, _description in DEPARTMENTS}
        for member in staff:
            departments = ", ".join(names[code] for code in member.departments) or "-"
            self.stdout.write(f"  {member.username:<{width}}  {member.role.label} ({departments})")
        self.stdout.write(gettext("Done in %(seconds)d s.") % {"seconds": round(time.monotonic() - started)})
