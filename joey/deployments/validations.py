"""Pipeline validations: named polars expressions over the flat result (``in.*``, ``out.*``).

Each is evaluated per row; ``anomaly.<name>`` is true where the expression is (a null
counts as false). Expressions travel in the spec in polars' own JSON form, never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from joey.errors import ValidationFailedError
from joey.spec import Validation


class Validator:
    """Evaluates a pipeline's validations on one result at a time."""

    def __init__(self, validations: Sequence[Validation]) -> None:
        self._expressions = [(v.name, v.expr()) for v in validations]

    def __bool__(self) -> bool:
        return bool(self._expressions)

    def evaluate(self, columns: Mapping[str, pa.Array | pa.ChunkedArray]) -> dict[str, pa.Array]:
        """``name`` -> bool flags per row; a failing expression raises naming its validation."""
        import polars as pl

        frame = pl.from_arrow(pa.table(dict(columns)), rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        flags: dict[str, pa.Array] = {}
        for name, expression in self._expressions:
            try:
                series = frame.select(expression.alias(name)).to_series()
                flags[name] = series.cast(pl.Boolean).fill_null(False).to_arrow()
            except Exception as exc:
                raise ValidationFailedError(name, f"{type(exc).__name__}: {exc}") from None
        return flags
