from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.ingest import COLUMNS, accounts_import


class Command(BaseCommand):
    help = (
        "Import customers and loan accounts from a UTF-8 CSV file with the columns "
        + ", ".join(COLUMNS)
        + ". A file with any bad row imports nothing; each bad row is reported with its line number."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report; save nothing.")

    def handle(self, *args: object, **options: object) -> None:
        path = options["file"]
        assert isinstance(path, Path)
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        with stream:
            report = accounts_import(stream, dry_run=bool(options["dry_run"]))
        for error in report.errors:
            self.stderr.write(f"line {error.line}: {error.message}")
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
