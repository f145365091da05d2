from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Loan accounts")

    def ready(self) -> None:
        from django.db.models import Q

        from accounts.models import AuditEntry
        from portal import audit

        # A drill's synthetic history is purged with the drill; it is never part of the trail.
        audit.register(AuditEntry, exclude=Q(account__is_drill=True))
