from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = _("Casework")

    def ready(self) -> None:
        from django.db.models import Q

        from accounts import hooks
        from casework.hooks import CaseworkHooks
        from casework.models import CaseEvent
        from portal import audit

        hooks.register(CaseworkHooks())
        # A drill's synthetic timelines are purged with the drill; they are never part of the trail.
        audit.register(CaseEvent, exclude=Q(case__is_drill=True))
