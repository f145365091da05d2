"""Case studies: what a resolved case or incident taught, written by a lead."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework.models import Case, CaseStudy, Incident, Status
from casework.services import CaseActionError
from portal.actors import person_name

STUDY_FIELDS = ("title", "outcome", "summary", "root_cause", "what_worked", "what_to_change")


def case_study_source(*, case: Case | None = None, incident: Incident | None = None) -> tuple[str, str]:
    """The cause and label of what a case study is written from; refused unless it is over."""
    if case is not None:
        if case.status not in (Status.RESOLVED, Status.CLOSED):
            raise CaseActionError(_("Write the case study once the case is resolved: its outcome is not known yet."))
        return case.cause, _("Case #%(id)d · %(account)s") % {"id": case.pk, "account": case.account.number}
    if incident is not None:
        if incident.status != Incident.IncidentStatus.RESOLVED:
            raise CaseActionError(
                _("Write the case study once the incident is resolved: its outcome is not known yet.")
            )
        return incident.cause, _("Incident #%(id)d · %(title)s") % {"id": incident.pk, "title": incident.title}
    raise CaseActionError(_("A case study is written from a resolved case or incident: open it from there."))


@transaction.atomic
def case_study_create(
    *, user: User, values: dict[str, str], case: Case | None = None, incident: Incident | None = None
) -> CaseStudy:
    if not user.has_perm("casework.add_casestudy"):
        raise PermissionDenied(_("Only team leads write case studies."))
    cause, label = case_study_source(case=case, incident=incident)
    return CaseStudy.objects.create(
        **{name: values[name].strip() for name in STUDY_FIELDS},
        cause=cause,
        case=case,
        incident=incident,
        source_label=label,
        author=user,
        author_name=person_name(user),
    )


@transaction.atomic
def case_study_update(*, study_id: int, user: User, values: dict[str, str]) -> CaseStudy:
    if not user.has_perm("casework.change_casestudy"):
        raise PermissionDenied(_("Only team leads edit case studies."))
    study = CaseStudy.objects.select_for_update().get(pk=study_id)
    for name in STUDY_FIELDS:
        setattr(study, name, values[name].strip())
    study.updated_at = timezone.now()
    study.save()
    return study
