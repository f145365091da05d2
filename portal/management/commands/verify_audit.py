"""Prove the audit trail: walk the hash chain and name every row changed or removed behind the portal's back."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from portal import audit


class Command(BaseCommand):
    help = "Verify the audit chain: exit 0 when every sealed row is as it was sealed, 1 naming each one that is not."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seal",
            action="store_true",
            help="Seal every row not sealed yet before verifying (what the nightly job does).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seal"]:
            sealed = audit.seal_pending(full=True, limit=10**9)
            self.stdout.write(_("Sealed %(count)d rows not sealed yet.") % {"count": sealed})
        result = audit.verify()
        for problem in result.problems:
            self.stderr.write(str(problem))
        if result.unsealed:
            self.stdout.write(
                _("%(count)d rows are not sealed yet (the seal job runs every minute; --seal seals them now).")
                % {"count": result.unsealed}
            )
        if not result.ok:
            raise CommandError(
                _("The audit chain does not verify: %(count)d problems in %(links)d links.")
                % {"count": len(result.problems), "links": result.links}
            )
        self.stdout.write(self.style.SUCCESS(_("The audit chain verifies: %(links)d links.") % {"links": result.links}))
