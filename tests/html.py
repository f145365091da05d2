"""Read what a page shows: the cells of its tables, the text of elements with a class."""

from __future__ import annotations

from html.parser import HTMLParser


class _Cells(HTMLParser):
    """The ``<th>`` texts and the ``<td>`` texts of each body row of the first ``<table>``."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._done:
            return
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._done:
            return
        if tag in ("th", "td") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            (self.rows[-1] if tag == "td" and self.rows else self.headers).append(text)
            self._cell = None
        elif tag == "table":
            self._done = True

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_cells(html: str) -> tuple[list[str], list[list[str]]]:
    """(header texts, body rows of cell texts) of the first table of ``html``."""
    parser = _Cells()
    parser.feed(html)
    return parser.headers, parser.rows


def downloaded(response: object) -> str:
    """The text of a streamed CSV download, without its byte-order mark."""
    return b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
