"""RQ entry points of the portal itself."""

from __future__ import annotations

from portal.heartbeat import heartbeat
from portal.pages.dashboard import figures_refresh


def refresh_dashboard() -> dict[str, int]:
    """Compute the dashboard's figures once for everyone (every web process reads the snapshot)."""
    with heartbeat("refresh_dashboard") as counts:
        figures = figures_refresh()
        counts["empty_accounts"] = int(figures["empty_total"].value)
    return counts
