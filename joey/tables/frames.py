"""pandas at the SDK edge only: DataFrames in, DataFrames out (never in the ingress)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from joey.errors import InvalidInputError
from joey.tables.results import sdk_column_order

if TYPE_CHECKING:
    import pandas as pd


def dataframe_to_table(frame: pd.DataFrame) -> pa.Table:
    """A request DataFrame (one row per inference, lists in tensor columns) as Arrow."""
    if len(frame) == 0:
        raise InvalidInputError(None, "at least one row", "an empty DataFrame")
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError(None, "columns of one type each", f"mixed types ({exc})") from exc


def table_to_dataframe(table: pa.Table) -> pd.DataFrame:
    """A flat result as Wallaroo's SDK shows it: ordered columns, lists as Python lists."""
    import pandas as pd

    columns = {}
    for name in sdk_column_order(table.column_names):
        column = table.column(name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type):
            columns[name] = pd.Series(column.to_pylist(), dtype=object)
        elif pa.types.is_timestamp(column.type):
            columns[name] = pd.Series(column.to_numpy().astype("datetime64[ms]"))
        else:
            columns[name] = column.to_pandas()
    return pd.DataFrame(columns)
