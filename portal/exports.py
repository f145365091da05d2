"""Exports of filtered lists: CSV streams any number of rows; XLSX is built in memory, so capped."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import django_filters
import tablib
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

XLSX_MAX_ROWS = 100_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_KINDS = ("csv", "xlsx")
# (field or lookup, column header) of an exported list
Columns = Sequence[tuple[str, str]]
# What a spreadsheet reads as the start of a formula (OWASP, "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def inert(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, made plain text with a leading apostrophe.

    A customer called ``=HYPERLINK("http://…")`` is stored and shown as typed; only the file a
    colleague opens in Excel has to be defused. Numbers (a negative amount) are not text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return timezone.localtime(value).replace(tzinfo=None)
    return inert(value)


def export_response(
    kind: str, name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse | StreamingHttpResponse:
    """``kind`` is ``csv`` or ``xlsx``; the file is named ``<name>-<timestamp>``."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if kind == "xlsx":
        data = tablib.Dataset(headers=list(headers))
        for index, row in enumerate(rows):
            if index >= XLSX_MAX_ROWS:
                break
            data.append([_cell(value) for value in row])
        response = HttpResponse(data.export("xlsx"), content_type=XLSX_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
        return response

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(headers)
        for row in rows:
            yield writer.writerow([inert(value) for value in row])

    streaming = StreamingHttpResponse(lines(), content_type="text/csv")
    streaming["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return streaming


def filtered_export(
    request: HttpRequest, filterset: django_filters.FilterSet, *, name: str, columns: Columns, order_by: Sequence[str]
) -> HttpResponseBase | None:
    """The filtered list as the file ``?export=csv|xlsx`` asks for; None when no file is asked for.

    An invalid filter exports nothing: the list comes back, filter errors shown, with a message.
    """
    kind = request.GET.get("export", "")
    if kind not in EXPORT_KINDS:
        return None
    if not filterset.is_valid():
        messages.error(request, _("Fix the filters before exporting."))
        query = request.GET.copy()
        query.pop("export", None)
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
    rows = filterset.qs.order_by(*order_by).values_list(*(field for field, _header in columns))
    return export_response(kind, name, [header for _field, header in columns], rows.iterator(chunk_size=2000))


def list_queries(request: HttpRequest) -> dict[str, str]:
    """The query strings a filtered list's page links with: its exports, and its filter alone."""
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("export", None)
    links = {}
    for kind in EXPORT_KINDS:
        query["export"] = kind
        links[f"{kind}_query"] = query.urlencode()
    query.pop("export")
    query.pop("sort", None)
    links["filter_query"] = query.urlencode()
    return links
