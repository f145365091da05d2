from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import SimulatorFault


class Command(BaseCommand):
    help = (
        "Switch a fault of the simulated core banking on or off, for demos and drills. "
        "Example: simulate_fault configuration_fault --channel 'Mobile app' (then --off to fix it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario", choices=SimulatorFault.Scenario.values)
        parser.add_argument("--channel", default="", help="Only this channel (default: every channel).")
        parser.add_argument("--product", default="", help="Only this product (default: every product).")
        parser.add_argument("--failure-rate", type=float, default=0.0, help="For random faults: 0 to 1.")
        parser.add_argument("--timeout-rate", type=float, default=0.0, help="For random faults: 0 to 1.")
        parser.add_argument("--off", action="store_true", help="Switch the fault off (the fix).")

    def handle(self, *args: object, **options: Any) -> None:
        scenario, channel, product = str(options["scenario"]), str(options["channel"]), str(options["product"])
        for rate in ("failure_rate", "timeout_rate"):
            if not 0 <= float(options[rate]) <= 1:
                raise CommandError(f"--{rate.replace('_', '-')} must be between 0 and 1.")
        name = f"{scenario} {channel or 'all channels'} {product or 'all products'}".strip()
        if options["off"]:
            changed = SimulatorFault.objects.filter(scenario=scenario, channel=channel, product=product).update(
                active=False
            )
            self.stdout.write(f"Switched off {changed} fault(s): {name}.")
            return
        SimulatorFault.objects.update_or_create(
            scenario=scenario,
            channel=channel,
            product=product,
            defaults={
                "name": name,
                "active": True,
                "failure_rate": options["failure_rate"],
                "timeout_rate": options["timeout_rate"],
            },
        )
        self.stdout.write(f"Switched on: {name}.")
