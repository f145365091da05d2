from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal and staff")

    def ready(self) -> None:
        from portal import audit
        from portal.models import SecurityEvent

        audit.register(SecurityEvent)

        from django.contrib.auth.signals import user_logged_in

        from portal.sessions import session_started

        # Every sign-in, the portal's two steps as much as a test's force_login, starts the session's clocks.
        user_logged_in.connect(session_started, dispatch_uid="portal-session-started")


class DeskAdminConfig(admin_apps.AdminConfig):
    """Django's admin on a site that asks for the second factor too (``portal.admin_site``)."""

    default = False  # "portal" itself stays PortalConfig
    default_site = "portal.admin_site.DeskAdminSite"
