"""Who on the team hears of a four-eyes request (``portal.notices`` sends)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import translation

from accounts.models import ApprovalRequest
from portal.actors import person_name
from portal.models import Notice
from portal.notices import notices_send


def approvers_for(approval: ApprovalRequest) -> set[int]:
    """The credit officers (and credit's leads) who may approve it: never the one who asked."""
    return set(
        User.objects.filter(
            is_active=True,
            staff_profile__departments__code="credit",
            groups__permissions__codename="approve_release",
            groups__permissions__content_type__app_label="accounts",
        )
        .exclude(pk=approval.requested_by_id)
        .values_list("pk", flat=True)
    )


def notify_approval_waiting(approval: ApprovalRequest) -> None:
    """Tell the possible approvers of a new request; a drill account's request tells no one."""
    if approval.account.is_drill:
        return
    with translation.override("en"):  # kept as the source text; each reader reads it in their language
        what = str(approval.get_kind_display())
    notices_send(
        kind=Notice.Kind.APPROVAL_WAITING,
        recipient_ids=approvers_for(approval),
        dedupe_key=f"approval_waiting:{approval.pk}",
        params={
            "who": person_name(approval.requested_by),
            "what": what,
            "account": approval.account.number,
        },
        url=reverse("accounts:approvals"),
    )
