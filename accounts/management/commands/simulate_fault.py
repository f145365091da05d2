from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Switch a fault of the reference core-banking service on or off, for demos and drills (it changes the "
        "service at CORE_GATEWAY_URL through its /sim/faults endpoint). Examples: "
        "simulate_fault configuration_fault --channel 'Mobile app' (then --off to fix it); "
        "simulate_fault random --failure-rate 0.2 --timeout-rate 0.1; simulate_fault down; "
        "simulate_fault latency --latency-ms 800."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario", choices=["configuration_fault", "random", "latency", "down"])
        parser.add_argument("--channel", default="", help="configuration_fault: the channel whose product is broken.")
        parser.add_argument("--failure-rate", type=float, default=0.0, help="random: share of writes failing (0-1).")
        parser.add_argument("--timeout-rate", type=float, default=0.0, help="random: share of answers held back (0-1).")
        parser.add_argument("--latency-ms", type=int, default=0, help="latency: extra milliseconds per request.")
        parser.add_argument("--off", action="store_true", help="Switch the fault off (the fix).")

    def _faults_url(self) -> str:
        if settings.CORE_GATEWAY != "http" or not settings.CORE_GATEWAY_URL:
            raise CommandError(
                "simulate_fault drives the reference core-banking service: set CORE_GATEWAY=http and "
                "CORE_GATEWAY_URL to it (make run does)."
            )
        return settings.CORE_GATEWAY_URL.rstrip("/") + "/sim/faults"

    def handle(self, *args: object, **options: Any) -> None:
        scenario, off = options["scenario"], options["off"]
        for rate in ("failure_rate", "timeout_rate"):
            if not 0 <= float(options[rate]) <= 1:
                raise CommandError(f"--{rate.replace('_', '-')} must be between 0 and 1.")
        url = self._faults_url()
        try:
            current = httpx.get(url, timeout=5).raise_for_status().json()
            if scenario == "configuration_fault":
                channel = options["channel"].strip()
                if not channel:
                    raise CommandError("configuration_fault needs --channel, e.g. --channel 'Mobile app'.")
                channels = [name for name in current.get("config_fault_channels", []) if name != channel]
                change: dict[str, Any] = {"config_fault_channels": channels if off else [*channels, channel]}
                name = f"configuration fault on {channel}"
            elif scenario == "random":
                change = {
                    "failure_rate": 0.0 if off else options["failure_rate"],
                    "timeout_rate": 0.0 if off else options["timeout_rate"],
                }
                name = "random failures and timeouts"
            elif scenario == "latency":
                change = {"latency_ms": 0 if off else options["latency_ms"]}
                name = "extra latency"
            else:
                change = {"down": not off}
                name = "core banking down"
            httpx.put(url, json=change, timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise CommandError(f"The reference core-banking service at {url} did not take the change: {exc}") from None
        self.stdout.write(f"Switched {'off' if off else 'on'}: {name}.")
