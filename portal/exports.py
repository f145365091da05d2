"""Exports of filtered lists: CSV streams any number of rows; XLSX is built in memory, so capped.

Files are for people who open them in Excel, in their language: headers translated, choices as
their labels ("空卡", not "empty"), yes/no for flags, times in local time (Asia/Shanghai) as
``2026-11-28 21:33``; CSV in UTF-8 with a byte-order mark, without which Excel on Chinese
Windows reads UTF-8 as GBK and garbles every Chinese name.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import django_filters
import tablib
from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist
from django.db.models import BooleanField, Field, Model
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit
from portal.models import SecurityEvent

XLSX_MAX_ROWS = 100_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_KINDS = ("csv", "xlsx")
# (field or lookup, column header[, how its values read]) of an exported list
Columns = Sequence[tuple[str, Any] | tuple[str, Any, Callable[[Any], Any]]]
Convert = Callable[[Any], Any]
BOM = "\ufeff"
TIME_FORMAT = "%Y-%m-%d %H:%M"
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
    """A value for a spreadsheet cell: local naive times (XLSX has no time zones), text defused."""
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    return inert(value)


def _text(value: Any) -> Any:
    """A value for a CSV cell: local times written out, text defused."""
    if isinstance(value, datetime):
        return _cell(value).strftime(TIME_FORMAT)
    return inert(value)


def _field(model: type[Model], lookup: str) -> Field[Any, Any] | None:
    """The model field a ``values_list`` lookup ends at (``account__customer__name``), or None."""
    field: Any = None
    for part in lookup.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    return field if isinstance(field, Field) else None


def readable(model: type[Model], lookup: str) -> Convert:
    """How a column's stored values are shown: a choice's label, yes/no, or as they are.

    The labels are translated once here, in the reader's language, not once per row.
    """
    field = _field(model, lookup)
    if field is not None and field.choices:
        labels = {key: str(label) for key, label in field.flatchoices}
        return lambda value: labels.get(value, value) if value is not None else ""
    if isinstance(field, BooleanField):
        yes, no = _("yes"), _("no")
        return lambda value: yes if value else no
    return lambda value: value


def export_response(
    kind: str, name: str, headers: Sequence[Any], rows: Iterable[Sequence[Any]]
) -> HttpResponse | StreamingHttpResponse:
    """``kind`` is ``csv`` or ``xlsx``; the file is named ``<name>-<timestamp>``."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    headers = [str(header) for header in headers]
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
        yield BOM + writer.writerow(headers)
        for row in rows:
            yield writer.writerow([_text(value) for value in row])

    streaming = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    streaming["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return streaming


def filtered_export(
    request: HttpRequest,
    filterset: django_filters.FilterSet,
    *,
    name: str,
    columns: Columns,
    order_by: Sequence[str],
    personal: Collection[str] = (),
) -> HttpResponseBase | None:
    """The filtered list as the file ``?export=csv|xlsx`` asks for; None when no file is asked for.

    An invalid filter exports nothing: the list comes back, filter errors shown, with a message.
    Every export is recorded in the access log with its filter, its row count and the personal
    columns it holds (``personal``: those of ``columns`` that are personal data).
    """
    kind = request.GET.get("export", "")
    if kind not in EXPORT_KINDS:
        return None
    if not filterset.is_valid():
        messages.error(request, _("Fix the filters before exporting."))
        query = request.GET.copy()
        query.pop("export", None)
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
    queryset = filterset.qs.order_by(*order_by)
    query = request.GET.copy()
    query.pop("export", None)
    exported = [column[0] for column in columns]
    audit.record(
        SecurityEvent.Kind.EXPORT,
        request=request,
        field=",".join(column for column in exported if column in personal)[:60],
        details={
            "list": name,
            "format": kind,
            "filter": {key: query.getlist(key) for key in query},
            "rows": queryset.count(),
            "personal_columns": [column for column in exported if column in personal],
        },
    )
    converters = [column[2] if len(column) > 2 else readable(queryset.model, column[0]) for column in columns]
    rows = (
        [convert(value) for convert, value in zip(converters, row, strict=True)]
        for row in queryset.values_list(*(column[0] for column in columns)).iterator(chunk_size=2000)
    )
    return export_response(kind, name, [column[1] for column in columns], rows)


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
