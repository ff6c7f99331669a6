"""The result table: ``time``, ``in.*``, ``out.*``, ``anomaly.*``, ``metadata.*``.

Built once, flat with ``.`` separators; then filtered by ``dataset``/``dataset.exclude``
and shaped nested or flat. The SDK and the ingress call the same functions, so a
result looks the same whichever way it came.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GROUPS = ("time", "in", "out", "anomaly", "metadata")


@dataclass(frozen=True)
class Metadata:
    """Per-request facts, reported under ``metadata.*`` when asked for."""

    last_model: str | pa.Array
    """One JSON string for the request, or one per row (a split chose per row)."""
    pipeline_version: str
    elapsed_ns: Sequence[int]
    dropped: Sequence[str]
    partition: str


@dataclass(frozen=True)
class DatasetFilter:
    """Which groups and fields to return (``dataset[]`` / ``dataset.exclude[]``)."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()

    def wants(self, name: str) -> bool:
        """A named field beats its group: ``anomaly.count`` stays when ``anomaly`` is excluded."""
        group = name.split(".", 1)[0]
        if name in self.exclude:
            return False
        if name in self.include:
            return True
        if group in self.exclude:
            return False
        return "*" in self.include or group in self.include

    def wants_group(self, group: str) -> bool:
        """Whether any field of ``group`` may be wanted (to skip building it at all)."""
        if any(i.split(".", 1)[0] == group for i in self.include if "." in i):
            return True
        return self.wants(group)

    @classmethod
    def for_sdk(cls, dataset: Sequence[str] | None, exclude: Sequence[str] | None) -> DatasetFilter:
        """The SDK's defaults: everything but ``metadata`` unless it is asked for."""
        include = tuple(dataset or ("*",))
        excluded = tuple(exclude or ())
        if "metadata" not in include:
            excluded += ("metadata",)
        return cls(include, excluded)


def _repeat(value: pa.Array, rows: int) -> pa.Array:
    """A one-element array repeated ``rows`` times, in C++ (itself for one row)."""
    if rows == 1:
        return value
    return pc.take(value, pa.array(np.zeros(rows, dtype=np.int32)))


@functools.lru_cache(maxsize=1024)
def _one_string(value: str) -> pa.Array:
    """A one-element string array, built once per value: a pipeline's version, partition and
    model names repeat on every request (arrays are immutable, so sharing them is safe)."""
    return pa.array([value])


@functools.lru_cache(maxsize=64)
def _one_string_list(values: tuple[str, ...]) -> pa.Array:
    return pa.array([list(values)], pa.list_(pa.string()))


def _non_null(name: str, column: pa.Array) -> pa.Field:
    return pa.field(name, column.type, nullable=False)


def assemble(
    time_ms: int,
    request: pa.Table,
    outputs: Mapping[str, pa.Array],
    anomalies: Mapping[str, pa.Array],
    metadata: Metadata | None,
    wanted: DatasetFilter,
    shadows: Mapping[str, Mapping[str, pa.Array]] | None = None,
) -> pa.Table:
    """The flat result table (``.`` separators) with only the wanted columns.

    ``shadows``: each shadow challenger's outputs (``out_<name>.*``, null where it was
    dropped), after the anomaly columns, challengers sorted by name (Wallaroo's order).
    """
    rows = request.num_rows
    fields: list[pa.Field] = []
    columns: list[pa.Array | pa.ChunkedArray] = []

    def add(field: pa.Field, column: pa.Array | pa.ChunkedArray) -> None:
        if wanted.wants(field.name):
            fields.append(field)
            columns.append(column)

    if wanted.wants("time"):
        add(pa.field("time", pa.timestamp("ms"), nullable=False), _repeat(pa.array([time_ms], pa.timestamp("ms")), rows))
    for name, column in input_columns(request).items():
        add(pa.field(name, column.type), column)
    for name, column in outputs.items():
        add(_non_null(f"out.{name}", column), column)
    count = _anomaly_count(anomalies, rows)
    add(_non_null("anomaly.count", count), count)
    for name in sorted(anomalies):
        add(_non_null(f"anomaly.{name}", anomalies[name]), anomalies[name])
    for challenger in sorted(shadows or {}):
        for name, column in (shadows or {})[challenger].items():
            add(pa.field(f"out_{challenger}.{name}", column.type), column)
    if metadata is not None and wanted.wants_group("metadata"):
        for name, column in _metadata_columns(metadata, rows).items():
            add(_non_null(f"metadata.{name}", column), column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def select(flat: pa.Table, wanted: DatasetFilter) -> pa.Table:
    """The wanted columns of a full flat result (or log rows)."""
    return flat.select([name for name in flat.column_names if wanted.wants(name)])


EVERYTHING = DatasetFilter(("*", "metadata"))
"""What the inference log keeps of an answer: every column."""


def input_columns(request: pa.Table) -> dict[str, pa.ChunkedArray]:
    """The request's columns as the result shows them: ``in.<name>``, fixed-size lists as lists."""
    columns = {}
    for name in request.column_names:
        column = request.column(name)
        if pa.types.is_fixed_size_list(column.type):
            column = column.cast(pa.list_(column.type.value_field))
        columns[f"in.{name}"] = column
    return columns


def _anomaly_count(anomalies: Mapping[str, pa.Array], rows: int) -> pa.Array:
    total = np.zeros(rows, dtype=np.uint32)
    for flags in anomalies.values():
        total += flags.to_numpy(zero_copy_only=False).astype(np.uint32)
    return pa.array(total)


def _metadata_columns(metadata: Metadata, rows: int) -> dict[str, pa.Array]:
    return {
        "last_model": (_repeat(_one_string(metadata.last_model), rows) if isinstance(metadata.last_model, str)
                       else metadata.last_model),
        "pipeline_version": _repeat(_one_string(metadata.pipeline_version), rows),
        "elapsed": _repeat(pa.array([list(metadata.elapsed_ns)], pa.list_(pa.uint64())), rows),
        "dropped": _repeat(_one_string_list(tuple(metadata.dropped)), rows),
        "partition": _repeat(_one_string(metadata.partition), rows),
    }


def shape(flat: pa.Table, separator: str | None) -> pa.Table:
    """Flat with ``separator`` between group and field, or nested structs when None."""
    if separator is not None:
        if separator == ".":
            return flat
        return flat.rename_columns([n.replace(".", separator, 1) for n in flat.column_names])
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    for index, name in enumerate(flat.column_names):
        group = name.split(".", 1)[0]
        if group not in groups:
            groups[group] = []
            order.append(group)
        groups[group].append(index)
    fields: list[pa.Field] = []
    columns: list[pa.Array] = []
    for group in order:
        indexes = groups[group]
        if len(indexes) == 1 and "." not in flat.column_names[indexes[0]]:
            fields.append(flat.schema.field(indexes[0]))
            columns.append(flat.column(indexes[0]).combine_chunks())
            continue
        members = [flat.schema.field(i).with_name(flat.column_names[i].split(".", 1)[1]) for i in indexes]
        arrays = [flat.column(i).combine_chunks() for i in indexes]
        struct = pa.StructArray.from_arrays(arrays, fields=members)
        fields.append(pa.field(group, struct.type, nullable=False))
        columns.append(struct)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def sdk_column_order(names: Sequence[str]) -> list[str]:
    """Wallaroo's pandas order: time, in.* and out.* sorted, then the rest by field name."""

    def rank(name: str) -> tuple[int, str]:
        group, _, rest = name.partition(".")
        if name == "time":
            return (0, "")
        if group == "in":
            return (1, rest)
        if group == "out":
            return (2, rest)
        return (3, rest)

    return sorted(names, key=rank)
