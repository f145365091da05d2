"""Customers' complaints and feedback: recorded by service, each on the account's case.

Recording one opens the account's case for it, or joins the open one, with a line on the
timeline; a high-severity complaint raises the case's priority. Its first response is the
first contact with the customer recorded on that case afterwards (``case_contact_record``).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import LoanAccount, State
from casework.models import Case, CaseCause, CaseEvent, CustomerFeedback, Priority
from casework.services import CaseActionError, case_open_for_account
from portal.actors import Actor

Category = CustomerFeedback.Category
# Where a complaint goes when its account is not in the empty-card state (when it is, the
# account's empty cause decides: that is the problem the customer is meeting).
CAUSE_FOR_CATEGORY: dict[str, str] = {
    Category.ACTIVATION_NOT_RECEIVED: CaseCause.COMPLAINT,
    Category.CANNOT_SET_PASSWORD: CaseCause.COMPLAINT,
    Category.CREDIT_FROZEN: CaseCause.RISK_HOLD,
    Category.CARD_NOT_USABLE: CaseCause.SYSTEM_CONFIG,
    Category.OTHER: CaseCause.COMPLAINT,
}
# A high-severity complaint brings its case up to at least this priority.
HIGH_SEVERITY_PRIORITY = Priority.P2


def feedback_cause(account: LoanAccount, category: str) -> str:
    """The cause of the case a complaint opens: the account's empty cause, else the category's."""
    if account.state == State.EMPTY and account.empty_cause:
        return str(account.empty_cause)
    return CAUSE_FOR_CATEGORY[category]


def _case_for(account: LoanAccount, cause: str, case_id: int | None) -> Case | None:
    """The open case the complaint joins, locked: the one it was recorded on, else the account's for its cause."""
    open_cases = Case.objects.open().filter(account=account).select_for_update(of=("self",))
    if case_id is not None:
        chosen = open_cases.filter(pk=case_id).first()
        if chosen is not None:
            return chosen
    return open_cases.filter(cause=cause).first() or open_cases.order_by("priority", "opened_at", "pk").first()


@transaction.atomic
def feedback_record(
    *,
    user: User,
    account_id: int,
    channel: str,
    category: str,
    severity: str,
    text: str,
    case_id: int | None = None,
) -> CustomerFeedback:
    """Record a customer's complaint or feedback; its case is opened or joined, and noted on the timeline.

    ``case_id`` is the case it was recorded on: joined while open; once resolved the account's
    open case (or a new one) takes the complaint. High severity raises the case to P2 at least.
    """
    if not user.has_perm("casework.add_customerfeedback"):
        raise PermissionDenied(_("Only customer service and team leads record customer feedback."))
    text = text.strip()
    if channel not in CustomerFeedback.Channel.values or category not in Category.values:
        raise CaseActionError(_("Choose how the customer reached us and what the feedback is about."))
    if severity not in CustomerFeedback.Severity.values:
        raise CaseActionError(_("Choose how severe the complaint is."))
    if not text:
        raise CaseActionError(_("Write what the customer said: whoever works the case reads it first."))
    try:
        account = LoanAccount.objects.select_related("customer").get(pk=account_id)
    except LoanAccount.DoesNotExist:
        raise CaseActionError(_("This account does not exist any more.")) from None
    actor = Actor.staff(user)
    category_label = Category(category).label
    line = _("Customer feedback (%(category)s, %(severity)s, by %(channel)s): %(text)s") % {
        "category": category_label,
        "severity": CustomerFeedback.Severity(severity).label,
        "channel": CustomerFeedback.Channel(channel).label,
        "text": text,
    }
    cause = feedback_cause(account, category)
    case = _case_for(account, cause, case_id)
    if case is None:  # the line opens the case (or joins one opened meanwhile)
        case = case_open_for_account(account=account, cause=cause, actor=actor, note=line)
        case = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
    else:
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.FEEDBACK, actor=user, actor_name=actor.name, text=line)
    if severity == CustomerFeedback.Severity.HIGH and case.priority > HIGH_SEVERITY_PRIORITY:
        before = case.get_priority_display()
        case.priority = HIGH_SEVERITY_PRIORITY
        case.version += 1
        case.save(update_fields=["priority", "version"])
        CaseEvent.objects.create(
            case=case,
            kind=CaseEvent.Kind.FEEDBACK,
            actor=user,
            actor_name=actor.name,
            text=_("Priority raised from %(old)s to %(new)s: a high-severity complaint.")
            % {"old": before, "new": case.get_priority_display()},
        )
    feedback = CustomerFeedback(
        account=account,
        case=case,
        channel=channel,
        category=category,
        severity=severity,
        text=text,
        recorded_by=user,
        recorded_by_name=actor.name,
        is_drill=account.is_drill,
    )
    feedback.full_clean()
    feedback.save()
    return feedback
