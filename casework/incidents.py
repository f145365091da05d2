"""Incidents: one fault behind many cases. Opened by tech, settled as their re-driven cases resolve."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_fsm import can_proceed

from accounts.models import EmptyCause
from casework.models import OPEN_STATUSES, Incident
from casework.notices import notify_incident_opened
from casework.services import CaseActionError
from portal.actors import person_name


@transaction.atomic
def incident_create(*, title: str, description: str, user: User, cause: str = EmptyCause.SYSTEM_CONFIG) -> Incident:
    if not user.has_perm("casework.add_incident"):
        raise PermissionDenied(_("Only tech engineers and leads open incidents."))
    if not title.strip():
        raise CaseActionError(_("Give the incident a title that says what is broken."))
    incident = Incident.objects.create(
        title=title.strip(),
        description=description.strip(),
        cause=cause,
        created_by=user,
        created_by_name=person_name(user),
    )
    notify_incident_opened(incident, by=user)
    return incident


@transaction.atomic
def incident_resolve(*, incident_id: int, user: User) -> Incident:
    """Tech or a lead declares the incident over; only once none of its cases is open."""
    if not user.has_perm("casework.add_incident"):
        raise PermissionDenied(_("Only tech engineers and leads resolve incidents."))
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not can_proceed(incident.resolve):
        raise CaseActionError(_("This incident is already resolved."))
    still_open = incident.cases.filter(status__in=OPEN_STATUSES).count()
    if still_open:
        raise CaseActionError(
            ngettext(
                "%(count)d case of this incident is still open: resolve it or unlink it first.",
                "%(count)d cases of this incident are still open: resolve them or unlink them first.",
                still_open,
            )
            % {"count": still_open}
        )
    incident.resolve()
    incident.save(update_fields=["status", "resolved_at"])
    return incident
