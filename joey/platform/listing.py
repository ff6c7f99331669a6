"""Lists the SDK returns: plain lists that render as a table in a notebook (``_repr_html_``)."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIME_FORMAT = "%Y-%d-%b %H:%M:%S"
"""Wallaroo's ``Client(time_format=...)`` default."""


class Listing(list[T]):
    """A ``list`` of SDK objects; printed it is a list, in Jupyter it is a table of ``row(item)``."""

    def __init__(self, items: Iterable[T], row: Callable[[T], dict[str, Any]],
                 time_format: str = DEFAULT_TIME_FORMAT) -> None:
        super().__init__(items)
        self._row = row
        self._time_format = time_format

    def _cell(self, value: Any) -> str:
        if isinstance(value, datetime):
            value = value.strftime(self._time_format)
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        return html.escape("" if value is None else str(value))

    def _repr_html_(self) -> str:
        rows = [self._row(item) for item in self]
        columns = list(dict.fromkeys(key for row in rows for key in row))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{self._cell(row.get(c))}</td>" for c in columns) + "</tr>"
            for row in rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"
