from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_tables2 import RequestConfig

from accounts import selectors
from accounts.credit_review import proposal_decide
from accounts.events import MAX_BODY, EventError, core_event_apply
from accounts.filters import AccountFilter
from accounts.forms import AccountActionForm, DecisionForm, ImportForm
from accounts.imports import import_start
from accounts.ingest import COLUMNS
from accounts.models import (
    ApprovalRequest,
    CreditReviewProposal,
    EmptyCause,
    LoanAccount,
    State,
)
from accounts.notify import activation_resend
from accounts.policy import REAUTH_TRANSITIONS, Step, may_trigger
from accounts.reveal import PERSONAL_COLUMNS, may_reveal, may_reveal_any
from accounts.services import (
    AccountActionError,
    Actor,
    account_decide,
    account_step_record,
    approval_request_approve,
    approval_request_create,
    approval_request_reject,
)
from accounts.signatures import HEADER, SignatureError, verify
from accounts.tables import AccountTable
from portal.exports import filtered_export, list_queries
from portal.http import form_status, redirect_back, refuse, staff_user
from portal.reauth import confirm_first, reauth_required, recently_authenticated
from portal.selectors import redis_error
from portal.tables import LargeQuerysetData

PAGE_SIZE = 25
SENT_TO_CORE = gettext_lazy(
    "Sent to core banking (%(command)s). The account changes as soon as core banking confirms; "
    "this page shows it waiting until then."
)
QUEUE_DOWN = gettext_lazy(
    "Core banking is told with a delay: the job queue is not answering. "
    "The command is saved and goes out by itself once the queue is back; nothing else to do."
)
REQUEST_KINDS = {
    "request_release": ApprovalRequest.Kind.RELEASE_HOLD,
    "request_tranche": ApprovalRequest.Kind.RELEASE_TRANCHE,
}


CSV_COLUMNS = (
    ("number", gettext_lazy("Account number")),
    ("customer__name", gettext_lazy("Customer")),
    ("customer__credit_code", gettext_lazy("Unified social credit code")),
    ("customer__risk_tier", gettext_lazy("Risk tier")),
    ("product", gettext_lazy("Product")),
    ("channel", gettext_lazy("Channel")),
    ("state", gettext_lazy("State")),
    ("empty_cause", gettext_lazy("Cause")),
    ("empty_since", gettext_lazy("Empty since")),
    ("approved_limit", gettext_lazy("Approved limit")),
    ("released_limit", gettext_lazy("Released limit")),
    ("state_changed_at", gettext_lazy("In this state since")),
    ("is_drill", gettext_lazy("Drill")),
)


@require_GET
@permission_required("accounts.view_loanaccount", raise_exception=True)
def account_list(request: HttpRequest) -> HttpResponseBase:
    account_filter = AccountFilter(request.GET, queryset=selectors.account_list())
    # Personal columns only for those who may reveal any customer's data; the export is recorded.
    personal = may_reveal_any(request.user)
    if personal and request.GET.get("export") and not recently_authenticated(request):
        # Personal data in bulk: the password (and code) again first, then back to the list.
        return confirm_first(request, next_url=f"{request.path}?{list_queries(request)['filter_query']}")
    columns = [column for column in CSV_COLUMNS if personal or column[0] not in PERSONAL_COLUMNS]
    export = filtered_export(
        request,
        account_filter,
        name="accounts",
        columns=columns,
        order_by=("-state_changed_at", "-id"),
        personal=PERSONAL_COLUMNS,
    )
    if export is not None:
        return export
    table = AccountTable(LargeQuerysetData(account_filter.qs))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    may_redrive = (
        request.GET.get("state") == State.EMPTY
        and request.GET.get("empty_cause") == EmptyCause.SYSTEM_CONFIG
        and may_trigger(request.user, "activate")
    )
    context = {"filter": account_filter, "table": table, "may_redrive": may_redrive, **list_queries(request)}
    return render(request, "accounts/account_list.html", context)


@require_GET
def account_detail(request: HttpRequest, number: str) -> HttpResponse:
    account, _can_edit = selectors.get_account_for_user(request, number)
    context = {
        "account": account,
        "customer": account.customer,
        "actions": selectors.account_actions(account, request.user),
        "steps": selectors.verification_steps(account),
        "cases": selectors.account_cases(account, request.user),
        "tranches": selectors.account_tranches(account),
        "timeline": selectors.account_timeline(account),
        "pending": selectors.account_pending_requests(account),
        "commands": selectors.account_commands(account),
        "notifications": selectors.account_notifications(account),
        "proposal": account.review_proposals.filter(status=CreditReviewProposal.Status.OPEN).first(),
        "form": AccountActionForm(initial={"version": account.version}),
        "may_reveal": may_reveal(request.user, account.customer_id),
    }
    return render(request, "accounts/account_detail.html", context)


def _account_post(
    request: HttpRequest,
    number: str,
    act: Callable[[LoanAccount, str, int | None], str],
    may: Callable[[Any], bool],
) -> HttpResponse:
    """One action posted from the account (or case) page: ``act`` runs it and says what happened.

    A role that may not take the action (``may``) is refused first (403), whatever it posted.
    The form carries the reason and the version the user saw; a refusal (the state, a stale copy)
    comes back as a message on the page the user posted from.
    """
    account, can_edit = selectors.get_account_for_user(request, number)
    if not (can_edit and may(request.user)):
        raise PermissionDenied
    form = AccountActionForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, account)
    try:
        messages.success(request, act(account, form.cleaned_data["reason"], form.cleaned_data["version"]))
    except AccountActionError as exc:
        messages.error(request, exc.message)
    return redirect_back(request, account)


@require_POST
def account_transition_view(request: HttpRequest, number: str, action: str) -> HttpResponse:
    """A staff decision on the account (issue, hold, release, close...): applied, or sent to core banking."""
    if action in REAUTH_TRANSITIONS and not recently_authenticated(request):
        return confirm_first(request)

    def decide(account: LoanAccount, reason: str, version: int | None) -> str:
        actor = Actor.staff(staff_user(request))
        decision = account_decide(
            account_id=account.pk, transition_name=action, actor=actor, reason=reason, expected_version=version
        )
        if decision.command is not None and redis_error():
            messages.warning(request, QUEUE_DOWN)
        if decision.applied:
            return _("Done: the account is now %(state)s.") % {"state": decision.account.get_state_display()}
        command = decision.command.get_kind_display() if decision.command else action
        return SENT_TO_CORE % {"command": command}

    return _account_post(request, number, decide, may=lambda user: may_trigger(user, action))


@require_POST
def approval_request_view(request: HttpRequest, number: str, action: str) -> HttpResponse:
    """Four-eyes: ask another credit officer to approve a release of the hold or of the next tranche."""

    def ask(account: LoanAccount, reason: str, version: int | None) -> str:
        approval = approval_request_create(
            account_id=account.pk,
            kind=REQUEST_KINDS[action],
            requested_by=staff_user(request),
            reason=reason,
            expected_version=version,
        )
        return _("%(request)s requested. Another credit officer must approve it.") % {
            "request": approval.get_kind_display()
        }

    return _account_post(request, number, ask, may=lambda user: may_trigger(user, "release_hold"))


@require_POST
def credit_review_view(request: HttpRequest, number: str) -> HttpResponse:
    """A credit officer approves the credit review of a high-risk account."""

    def review(account: LoanAccount, reason: str, version: int | None) -> str:
        actor = Actor.staff(staff_user(request))
        account_step_record(
            account_id=account.pk, step=Step.CREDIT_REVIEW, actor=actor, reason=reason, expected_version=version
        )
        return _("Credit review approved.")

    return _account_post(request, number, review, may=lambda user: user.has_perm("accounts.review_credit"))


@require_POST
def activation_resend_view(request: HttpRequest, number: str) -> HttpResponse:
    """A service agent sends the customer's activation message again."""

    def resend(account: LoanAccount, reason: str, version: int | None) -> str:
        activation_resend(account_id=account.pk)
        return _("The activation message is on its way (SMS and email).")

    return _account_post(request, number, resend, may=lambda user: may_trigger(user, "begin_verification"))


@require_GET
@permission_required("accounts.view_approvalrequest", raise_exception=True)
def approval_list(request: HttpRequest) -> HttpResponse:
    pending = list(selectors.pending_approvals())
    can_decide = request.user.has_perm("accounts.approve_release")
    return render(
        request,
        "accounts/approval_list.html",
        {"pending": pending, "can_decide": can_decide, "form": DecisionForm()},
    )


@require_POST
@reauth_required
def approval_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    approval = get_object_or_404(ApprovalRequest.objects.select_related("account"), pk=pk)
    own = approval.requested_by_id == request.user.pk
    if not request.user.has_perm("accounts.approve_release") and not own:
        raise PermissionDenied
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, "accounts:approvals")
    note = form.cleaned_data["note"]
    try:
        if decision == "approve":
            approval_request_approve(request_id=approval.pk, approver=staff_user(request), note=note)
            messages.success(
                request, _("Approved: %(request)s is done and recorded with both names.") % {"request": approval}
            )
        elif decision == "reject":
            approval_request_reject(request_id=approval.pk, decider=staff_user(request), note=note)
            messages.success(request, _("%(request)s was turned down.") % {"request": approval})
        else:
            raise PermissionDenied
    except AccountActionError as exc:
        messages.error(request, exc.message)
    return redirect_back(request, "accounts:approvals")


@require_http_methods(["GET", "POST"])
@permission_required("accounts.import_accounts", raise_exception=True)
def account_import(request: HttpRequest) -> HttpResponse:
    """The upload: the file is kept and checked and imported by a job; its page follows the run."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        run = import_start(
            upload=form.cleaned_data["file"], dry_run=form.cleaned_data["dry_run"], user=staff_user(request)
        )
        return redirect(run)
    context = {"form": form, "columns": COLUMNS, "runs": selectors.import_runs()}
    return render(request, "accounts/import.html", context, status=form_status(form))


@require_GET
@permission_required("accounts.import_accounts", raise_exception=True)
def import_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One run: its progress while it runs (refreshed by htmx), then what it did or which rows are wrong."""
    run = selectors.import_run(pk)
    if request.headers.get("HX-Request"):
        response = render(request, "accounts/import_run.html#progress", {"run": run})
        if not run.running:
            response["HX-Refresh"] = "true"  # finished: the whole page, with the rows that are wrong
        return response
    errors = selectors.import_errors(run)
    return render(request, "accounts/import_run.html", {"run": run, "errors": errors, "columns": COLUMNS})


@require_GET
@permission_required("accounts.import_accounts", raise_exception=True)
def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The error report of a refused run: every bad row, with its line number and the reason."""
    run = selectors.import_run(pk)
    response = HttpResponse(run.errors_csv, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{run.pk}-errors.csv"'
    return response


def _event_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error_code": code, "error_message": message}, status=status)


@login_not_required
@csrf_exempt
@require_POST
def core_events(request: HttpRequest) -> JsonResponse:
    """Events from core banking, signed with ``X-Core-Signature`` (docs/core-banking.openapi.yaml)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return _event_error(413, "TOO_LARGE", f"The body has {declared} bytes; at most {MAX_BODY} are accepted.")
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _event_error(413, "TOO_LARGE", f"The body is larger than {MAX_BODY} bytes.")
    try:
        verify(request.headers.get(HEADER, ""), body, settings.CORE_WEBHOOK_SECRETS)
    except SignatureError as exc:
        return _event_error(401, exc.code, exc.message)
    try:
        text = body.decode("utf-8")  # the contract's events are UTF-8 JSON (RFC 8259), never UTF-16 nor GB18030
    except UnicodeDecodeError as exc:
        return _event_error(
            400, "MALFORMED_JSON", f"The body is not UTF-8 text (byte {exc.start + 1} is 0x{body[exc.start]:02x})."
        )
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        return _event_error(400, "MALFORMED_JSON", f"The body is not valid JSON: {exc}")
    try:
        receipt = core_event_apply(payload)
    except EventError as exc:
        return JsonResponse(exc.body(), status=exc.status)
    return JsonResponse(receipt.body())


@require_GET
@permission_required("accounts.view_creditreviewproposal", raise_exception=True)
def review_list(request: HttpRequest) -> HttpResponse:
    proposals = (
        CreditReviewProposal.objects.filter(status=CreditReviewProposal.Status.OPEN)
        .select_related("account__customer")
        .order_by("kind", "-created_at")[:500]
    )
    return render(
        request,
        "accounts/review_list.html",
        {"proposals": proposals, "may_decide": request.user.has_perm("accounts.review_credit")},
    )


@require_POST
def review_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    if decision not in ("done", "dismiss"):
        raise Http404
    try:
        proposal_decide(proposal_id=pk, user=staff_user(request), done=decision == "done")
        messages.success(request, _("Proposal closed."))
    except CreditReviewProposal.DoesNotExist:
        raise Http404 from None
    except AccountActionError as exc:
        messages.error(request, exc.message)
    return redirect("accounts:reviews")
