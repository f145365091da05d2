"""Exports of filtered lists: CSV streams any number of rows; XLSX is built in memory, so capped."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import tablib
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

XLSX_MAX_ROWS = 100_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return timezone.localtime(value).replace(tzinfo=None)
    return value


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
            yield writer.writerow(row)

    streaming = StreamingHttpResponse(lines(), content_type="text/csv")
    streaming["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return streaming
