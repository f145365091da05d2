"""Case studies: what the organisation learnt, searchable, and linked from each cause's playbook."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casework import playbooks, selectors
from casework.filters import CaseStudyFilter
from casework.forms import CaseStudyForm, PlaybookDecisionForm, PlaybookProposalForm
from casework.models import Case, CaseCause, CaseStudy, Incident, Playbook, PlaybookRevision
from casework.services import CaseActionError
from casework.studies import case_study_create, case_study_source, case_study_update
from portal.http import form_status, refuse, staff_user


@require_GET
@permission_required("casework.view_casestudy", raise_exception=True)
def study_list(request: HttpRequest) -> HttpResponse:
    study_filter = CaseStudyFilter(request.GET, queryset=CaseStudy.objects.order_by("-created_at", "-id"))
    studies = study_filter.qs if study_filter.is_valid() else CaseStudy.objects.none()
    page = Paginator(studies, 20).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "casework/study_list.html", {"filter": study_filter, "page": page, "query": query.urlencode()}
    )


def _source(request: HttpRequest) -> tuple[Case | None, Incident | None]:
    """The resolved case (that the user may see) or incident named in the query string."""
    case_id, incident_id = request.GET.get("case", ""), request.GET.get("incident", "")
    if case_id.isdigit():
        case = get_object_or_404(Case.objects.visible_to(request.user).select_related("account"), pk=case_id)
        return case, None
    if incident_id.isdigit():
        return None, get_object_or_404(Incident, pk=incident_id)
    return None, None


@require_http_methods(["GET", "POST"])
@permission_required("casework.add_casestudy", raise_exception=True)
def study_new(request: HttpRequest) -> HttpResponse:
    case, incident = _source(request)
    try:
        _cause, source_label = case_study_source(case=case, incident=incident)
    except CaseActionError as exc:
        messages.error(request, exc.message)
        return redirect(case or incident or "studies:list")
    form = CaseStudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = case_study_create(user=staff_user(request), values=form.cleaned_data, case=case, incident=incident)
        except CaseActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Case study saved. It is listed with its cause's playbook."))
            return redirect(study)
    return render(
        request,
        "casework/study_form.html",
        {"form": form, "source_label": source_label, "study": None},
        status=form_status(form),
    )


@require_GET
@permission_required("casework.view_casestudy", raise_exception=True)
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(CaseStudy.objects.select_related("case", "incident"), pk=pk)
    revisions = playbooks.study_revisions(study)
    return render(request, "casework/study_detail.html", {"study": study, "revisions": revisions})


@require_http_methods(["GET", "POST"])
@permission_required("casework.change_casestudy", raise_exception=True)
def study_edit(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(CaseStudy, pk=pk)
    form = CaseStudyForm(request.POST or None, instance=study)
    if request.method == "POST" and form.is_valid():
        case_study_update(study_id=study.pk, user=staff_user(request), values=form.cleaned_data)
        messages.success(request, _("Case study updated."))
        return redirect(study)
    return render(
        request,
        "casework/study_form.html",
        {"form": form, "source_label": study.source_label, "study": study},
        status=form_status(form),
    )


@require_GET
@permission_required("casework.view_playbook", raise_exception=True)
def playbook(request: HttpRequest, cause: str) -> HttpResponse:
    """One cause's checklist, with the case studies written about that cause."""
    if cause not in CaseCause.values:
        raise Http404
    book = playbooks.playbook_for_page(cause)
    studies = selectors.case_studies_for(cause)
    return render(
        request,
        "casework/playbook.html",
        {"playbook": book, "cause_label": CaseCause(cause).label, "cause": cause, **studies},
    )


@require_http_methods(["GET", "POST"])
@permission_required("casework.add_playbookrevision", raise_exception=True)
def study_propose(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose new steps for the playbook of the study's cause, with the study's "what to change" beside them."""
    study = get_object_or_404(CaseStudy, pk=pk)
    book = Playbook.objects.filter(cause=study.cause).first()
    if book is None:
        messages.error(request, _("This cause has no playbook yet: an admin creates it first."))
        return redirect(study)
    current = playbooks.playbook_current_steps(book)
    form = PlaybookProposalForm(request.POST or None, initial={"steps": "\n".join(current)})
    if request.method == "POST" and form.is_valid():
        try:
            revision = playbooks.playbook_revision_propose(
                user=staff_user(request),
                study=study,
                steps=form.cleaned_data["steps"].splitlines(),
                note=form.cleaned_data["note"],
            )
        except CaseActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Change proposed. Another lead accepts or rejects it."))
            return redirect(revision)
    return render(
        request,
        "casework/playbook_propose.html",
        {"form": form, "study": study, "playbook": book},
        status=form_status(form),
    )


@require_GET
@permission_required("casework.view_playbookrevision", raise_exception=True)
def playbook_revision(request: HttpRequest, pk: int) -> HttpResponse:
    """A proposed change, line by line against the playbook's current steps, with the decision forms."""
    revision = playbooks.revision_for_page(pk)
    if revision is None:
        raise Http404
    current = playbooks.playbook_current_steps(revision.playbook)
    return render(
        request,
        "casework/playbook_revision.html",
        {
            "revision": revision,
            "rows": playbooks.playbook_diff_rows(current, revision.steps),
            "stale": revision.is_open and revision.base_version != revision.playbook.version,
            "accept_form": PlaybookDecisionForm(auto_id="accept_%s"),
            "reject_form": PlaybookDecisionForm(reject=True, auto_id="reject_%s"),
        },
    )


@require_POST
@permission_required("casework.accept_playbookrevision", raise_exception=True)
def playbook_revision_accept(request: HttpRequest, pk: int) -> HttpResponse:
    revision = get_object_or_404(PlaybookRevision, pk=pk)
    form = PlaybookDecisionForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, revision)
    try:
        version = playbooks.playbook_revision_accept(
            user=staff_user(request), revision_id=revision.pk, note=form.cleaned_data["note"]
        )
    except CaseActionError as exc:
        messages.error(request, exc.message)
        return redirect(revision)
    messages.success(
        request,
        _("Accepted: the playbook is now at version %(version)d. Cases opened from now on get these steps.")
        % {"version": version.number},
    )
    return redirect("casework:playbook", revision.playbook.cause)


@require_POST
@permission_required("casework.accept_playbookrevision", raise_exception=True)
def playbook_revision_reject(request: HttpRequest, pk: int) -> HttpResponse:
    revision = get_object_or_404(PlaybookRevision, pk=pk)
    form = PlaybookDecisionForm(request.POST, reject=True)
    if not form.is_valid():
        return refuse(request, form, revision)
    try:
        playbooks.playbook_revision_reject(
            user=staff_user(request), revision_id=revision.pk, note=form.cleaned_data["note"]
        )
    except CaseActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Proposal rejected; the playbook stays as it is."))
    return redirect(revision)
