from __future__ import annotations

import json

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
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_tables2 import RequestConfig

from accounts import selectors
from accounts.batches import batch_cancel, batch_start
from accounts.credit_review import proposal_decide
from accounts.events import MAX_BODY, EventError, core_event_apply
from accounts.filters import AccountFilter
from accounts.forms import AccountActionForm, DecisionForm, ImportForm
from accounts.ingest import COLUMNS, accounts_import
from accounts.models import (
    ApprovalRequest,
    CreditReviewProposal,
    EmptyCause,
    ReactivationBatch,
    ReactivationItem,
    State,
)
from accounts.notify import activation_resend
from accounts.policy import Step, may_trigger
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
from portal.exports import export_response
from portal.http import redirect_back, staff_user
from portal.selectors import redis_error
from portal.tables import LargeQuerysetData

PAGE_SIZE = 25
REQUEST_KINDS = {
    "request_release": ApprovalRequest.Kind.RELEASE_HOLD,
    "request_tranche": ApprovalRequest.Kind.RELEASE_TRANCHE,
}


CSV_COLUMNS = (
    ("number", "account_number"),
    ("customer__name", "customer"),
    ("customer__credit_code", "credit_code"),
    ("customer__risk_tier", "risk_tier"),
    ("product", "product"),
    ("channel", "channel"),
    ("state", "state"),
    ("empty_cause", "empty_cause"),
    ("empty_since", "empty_since"),
    ("approved_limit", "approved_limit"),
    ("released_limit", "released_limit"),
    ("state_changed_at", "in_state_since"),
    ("is_drill", "drill"),
)


@require_GET
@permission_required("accounts.view_loanaccount", raise_exception=True)
def account_list(request: HttpRequest) -> HttpResponseBase:
    account_filter = AccountFilter(request.GET, queryset=selectors.account_list())
    if request.GET.get("export") in ("csv", "xlsx"):
        if not account_filter.is_valid():
            messages.error(request, _("Fix the filters before exporting."))
            return redirect("accounts:list")
        rows = account_filter.qs.order_by("-state_changed_at", "-id").values_list(
            *(field for field, _header in CSV_COLUMNS)
        )
        return export_response(
            request.GET["export"],
            "accounts",
            [header for _field, header in CSV_COLUMNS],
            rows.iterator(chunk_size=2000),
        )
    table = AccountTable(LargeQuerysetData(account_filter.qs))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    export_query = request.GET.copy()
    export_query.pop("page", None)
    export_query["export"] = "csv"
    xlsx_query = export_query.copy()
    xlsx_query["export"] = "xlsx"
    filter_query = request.GET.copy()
    filter_query.pop("page", None)
    filter_query.pop("sort", None)
    return render(
        request,
        "accounts/account_list.html",
        {
            "filter": account_filter,
            "table": table,
            "export_query": export_query.urlencode(),
            "xlsx_query": xlsx_query.urlencode(),
            "filter_query": filter_query.urlencode(),
            "may_redrive": request.GET.get("state") == State.EMPTY
            and request.GET.get("empty_cause") == EmptyCause.SYSTEM_CONFIG
            and may_trigger(request.user, "activate"),
        },
    )


@require_GET
def account_detail(request: HttpRequest, number: str) -> HttpResponse:
    account, _can_edit = selectors.get_account_for_user(request, number)
    context = {
        "account": account,
        "customer": account.customer,
        "actions": selectors.account_actions(account, request.user),
        "steps": selectors.verification_steps(account),
        "tranches": selectors.account_tranches(account),
        "timeline": selectors.account_timeline(account),
        "pending": selectors.account_pending_requests(account),
        "commands": selectors.account_commands(account),
        "notifications": selectors.account_notifications(account),
        "proposal": account.review_proposals.filter(status=CreditReviewProposal.Status.OPEN).first(),
        "form": AccountActionForm(initial={"version": account.version}),
    }
    return render(request, "accounts/account_detail.html", context)


@require_POST
def account_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    """Run one action from the account page; any refusal comes back as a message on that page."""
    account, can_edit = selectors.get_account_for_user(request, number)
    if not can_edit:
        raise PermissionDenied
    form = AccountActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(account)
    reason, version = form.cleaned_data["reason"], form.cleaned_data["version"]
    try:
        if action in REQUEST_KINDS:
            approval = approval_request_create(
                account_id=account.pk,
                kind=REQUEST_KINDS[action],
                requested_by=staff_user(request),
                reason=reason,
                expected_version=version,
            )
            messages.success(
                request,
                _("%(request)s requested. Another credit officer must approve it.")
                % {"request": approval.get_kind_display()},
            )
        elif action == "resend_activation":
            if not may_trigger(request.user, "begin_verification"):
                raise PermissionDenied
            activation_resend(account_id=account.pk)
            messages.success(request, _("The activation message is on its way (SMS and email)."))
        elif action == "credit_review":
            account_step_record(
                account_id=account.pk,
                step=Step.CREDIT_REVIEW,
                actor=Actor.staff(staff_user(request)),
                reason=reason,
                expected_version=version,
            )
            messages.success(request, _("Credit review approved."))
        else:
            decision = account_decide(
                account_id=account.pk,
                transition_name=action,
                actor=Actor.staff(staff_user(request)),
                reason=reason,
                expected_version=version,
            )
            if decision.applied:
                messages.success(
                    request,
                    _("Done: the account is now %(state)s.") % {"state": decision.account.get_state_display()},
                )
            else:
                messages.success(
                    request,
                    _(
                        "Sent to core banking (%(command)s). The account changes as soon as core banking confirms; "
                        "this page shows it waiting until then."
                    )
                    % {"command": decision.command.get_kind_display() if decision.command else action},
                )
            if decision.command is not None and redis_error():
                messages.warning(
                    request,
                    _(
                        "Core banking is told with a delay: the job queue is not answering. "
                        "The command is saved and goes out by itself once the queue is back; nothing else to do."
                    ),
                )
    except AccountActionError as exc:
        messages.error(request, exc.message)
    return redirect_back(request, account)


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
def approval_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    approval = get_object_or_404(ApprovalRequest.objects.select_related("account"), pk=pk)
    own = approval.requested_by_id == request.user.pk
    if not request.user.has_perm("accounts.approve_release") and not own:
        raise PermissionDenied
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
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
    next_url = request.POST.get("next")
    if next_url == "account":
        return redirect(approval.account)
    return redirect("accounts:approvals")


@require_http_methods(["GET", "POST"])
@permission_required("accounts.import_accounts", raise_exception=True)
def account_import(request: HttpRequest) -> HttpResponse:
    report = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            report = accounts_import(form.cleaned_data["file"], dry_run=form.cleaned_data["dry_run"])
            if report.ok:
                messages.success(request, report.summary())
            else:
                messages.error(request, report.summary())
    else:
        form = ImportForm()
    return render(request, "accounts/import.html", {"form": form, "report": report, "columns": COLUMNS})


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
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _event_error(400, "MALFORMED_JSON", f"The body is not valid JSON: {exc}")
    try:
        receipt = core_event_apply(payload)
    except EventError as exc:
        return JsonResponse(exc.body(), status=exc.status)
    return JsonResponse(receipt.body())


@require_http_methods(["GET"])
@permission_required("accounts.view_reactivationbatch", raise_exception=True)
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(ReactivationBatch.objects.select_related("incident", "created_by"), pk=pk)
    if request.headers.get("HX-Request"):
        return render(request, "accounts/batch_detail.html#progress", {"batch": batch})
    failures = batch.items.filter(status=ReactivationItem.Status.FAILED).select_related("account")[:200]
    return render(
        request,
        "accounts/batch_detail.html",
        {"batch": batch, "failures": failures, "may_cancel": may_trigger(request.user, "activate")},
    )


@require_POST
def batch_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        batch_cancel(batch_id=pk, user=staff_user(request))
        messages.success(request, _("The batch is stopped; accounts not yet attempted stay as they are."))
    except AccountActionError as exc:
        messages.error(request, exc.message)
    return redirect("batch", pk=pk)


@require_POST
def redrive_filtered(request: HttpRequest) -> HttpResponse:
    """Start a reactivation batch for the accounts of the list's current filter."""
    user = staff_user(request)
    if not may_trigger(user, "activate"):
        raise PermissionDenied
    query = QueryDict(request.POST.get("query", ""))
    account_filter = AccountFilter(query, queryset=selectors.account_list())
    if not account_filter.is_valid():
        messages.error(request, _("Fix the filters before starting a re-drive."))
        return redirect("accounts:list")
    ids = account_filter.qs.filter(state=State.EMPTY, empty_cause=EmptyCause.SYSTEM_CONFIG).values_list("pk", flat=True)
    try:
        batch = batch_start(
            title=_("Re-drive of %(query)s") % {"query": query.urlencode() or _("all system-fault accounts")},
            account_ids=ids[:100_000],
            user=user,
            criteria={"filter": query.urlencode()},
        )
    except AccountActionError as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('accounts:list')}?{query.urlencode()}")
    messages.success(request, _("Re-drive started for %(count)d accounts.") % {"count": batch.total})
    return redirect(batch)


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
