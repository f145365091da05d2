"""The staff notification inbox (通知), the header's bell, and the preferences form."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal.http import staff_user
from portal.models import Notice
from portal.notices import NoticeError, notice_mark_read, notices_for, notices_mark_all_read, preferences_set
from portal.notices import unread_count as count_unread

PER_PAGE = 25


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The person's notifications, newest first, 25 a page."""
    user = staff_user(request)
    page = Paginator(notices_for(user), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/notices.html", {"page": page, "unread": count_unread(user)})


@require_GET
def bell(request: HttpRequest) -> HttpResponse:
    """The header's bell with the unread count: polled by htmx (not activity for the idle timeout)."""
    return render(request, "portal/partials/notice_bell.html", {"unread": count_unread(staff_user(request))})


@require_POST
def read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read and go to what it is about (``open``), or back to the inbox."""
    try:
        notice = notice_mark_read(user=staff_user(request), notice_id=pk)
    except Notice.DoesNotExist:
        raise Http404 from None
    if request.POST.get("open") and notice.url and url_has_allowed_host_and_scheme(notice.url, allowed_hosts=None):
        return redirect(notice.url)
    return redirect("notices")


@require_POST
def read_all(request: HttpRequest) -> HttpResponse:
    notices_mark_all_read(user=staff_user(request))
    return redirect("notices")


@require_POST
def preferences(request: HttpRequest) -> HttpResponse:
    """Save how the person wants each kind of notification (off, in the portal, also by email)."""
    choices = {kind: request.POST[kind] for kind in Notice.Kind.values if kind in request.POST}
    try:
        preferences_set(user=staff_user(request), choices=choices)
    except NoticeError as error:
        messages.error(request, error.message)
        return redirect("profile")
    messages.success(request, _("Your notification choices are saved."))
    return redirect("profile")
