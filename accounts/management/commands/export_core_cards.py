import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import QuerySet

from accounts.models import LoanAccount
from accounts.policy import tranche_amounts


def write_cards(accounts: QuerySet[LoanAccount], path: Path) -> int:
    """The card core banking holds for each of ``accounts`` that has one, as JSON lines; how many."""
    rows = (
        accounts.filter(card_token__isnull=False)
        .exclude(card_state="")
        .order_by("pk")
        .values_list(
            "card_token", "number", "card_state", "product", "channel", "approved_limit", "released_limit",
            "activated_at", "customer__risk_tier",
        )
    )  # fmt: skip
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for token, number, state, product, channel, approved, released, activated_at, tier in rows.iterator(
            chunk_size=5000
        ):
            usable = released if activated_at else tranche_amounts(approved, tier)[0]
            card = {
                "token": token,
                "account_number": number,
                "state": state,
                "product": product,
                "channel": channel,
                "credit_limit": f"{approved:.2f}",
                "usable_limit": f"{usable:.2f}",
                "ever_activated": activated_at is not None,
            }
            out.write(json.dumps(card, ensure_ascii=False) + "\n")
            written += 1
    return written


class Command(BaseCommand):
    help = (
        "Write the card core banking holds for every account that has one, as JSON lines for the reference "
        "core-banking service (python -m corebank load FILE, or serve --seed FILE). For demo and bench data "
        "sets, which are generated straight into the portal's database: this puts the same cards into core."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="Where to write the JSON lines (its folder is created).")

    def handle(self, *args: object, **options: Any) -> None:
        path = Path(options["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        written = write_cards(LoanAccount.objects.filter(is_drill=False), path)
        self.stdout.write(f"{written} cards written to {path}.")
