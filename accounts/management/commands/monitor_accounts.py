from django.core.management.base import BaseCommand, CommandParser

from accounts.monitor import monitor_scan


class Command(BaseCommand):
    help = (
        "Run one scan of the activation monitor now: accounts past their tier's activation window "
        "go to the empty-card state with the diagnosed cause, and their cases open; approved lines not "
        "issued in time are flagged to credit; cases resolved as fixed while their account is still empty "
        "reopen. Prints a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Accounts per transaction (default 500).")

    def handle(self, *args: object, **options: int) -> None:
        summary = monitor_scan(batch_size=options["batch_size"])
        self.stdout.write(
            f"Examined {summary.examined} overdue accounts: {summary.stalled} stalled (customer steps missing), "
            f"{summary.failed} failed (system), {summary.skipped} changed meanwhile; "
            f"{summary.not_issued} approved lines flagged as not issued in time; "
            f"{summary.reopened} cases reopened (account still empty)."
        )
