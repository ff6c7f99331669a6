"""``pipeline.logs()`` and ``pipeline.export_logs()`` over the inference log (``joey.logs``),
with Wallaroo's signatures, defaults, ordering and messages (WALLAROO_REFERENCE §7.1-7.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from joey.errors import InvalidInputError, JoeyError
from joey.logs.reader import iter_rows, recent_segments
from joey.tables import DatasetFilter, shape
from joey.tables.results import GROUPS, select

if TYPE_CHECKING:
    import numpy as np

DEFAULT_LIMIT = 100
SIZE_LIMIT_BYTES = 10 * 2**20
"""About what one ``logs()`` answer shows at most, as Wallaroo's (then it asks for export_logs)."""
MORE_LOGS = "Warning: There are more logs available. Please set a larger limit or request a file using export_logs."
MORE_TO_EXPORT = "Warning: There are more logs available. Please set a larger limit to export more data."
BOTH_DATETIMES = "Please provide both start datetime and end datetime together."

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def size_bytes(spec: str) -> int:
    """Wallaroo's ``data_size_limit`` (``100MB``, ``10 MiB``) in bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]i?B|B)?\s*", spec, flags=re.IGNORECASE)
    if not match:
        raise InvalidInputError("data_size_limit", "a size like '100MB' or '10 MiB'", repr(spec))
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])


def check_range(start: datetime | None, end: datetime | None) -> None:
    if (start is None) != (end is None):
        raise JoeyError(BOTH_DATETIMES)


def log_filter(dataset: list[str] | None, exclude: list[str] | None) -> DatasetFilter:
    """The SDK's dataset filter; an unknown group or column name is a clear error."""
    for name in [*(dataset or ()), *(exclude or ())]:
        group = name.split(".", 1)[0]
        if name != "*" and group not in GROUPS and not group.startswith("out_"):
            raise InvalidInputError("dataset", f"'*', one of {', '.join(GROUPS)}, or a column such as "
                                               "'out.variable'", repr(name))
    return DatasetFilter.for_sdk(dataset, exclude)


def _valid(table: pa.Table, valid: bool | None) -> pa.Table:
    if valid is None or "anomaly.count" not in table.column_names:
        return table
    count = table.column("anomaly.count")
    return table.filter(pc.equal(count, 0) if valid else pc.greater(count, 0))


def _concat(tables: list[pa.Table]) -> tuple[pa.Table, bool]:
    """One table of every schema's rows; when they cannot meet, the first (newest) schema's."""
    try:
        return pa.concat_tables(tables, promote_options="permissive"), False
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        first = tables[0].schema
        return pa.concat_tables([t for t in tables if t.schema.equals(first)]), True


def query(log_dir: str, limit: int | None, start: datetime | None, end: datetime | None,
          valid: bool | None, wanted: DatasetFilter) -> tuple[pa.Table, bool, bool]:
    """(rows, whether more rows matched than returned, whether the schema changed)."""
    check_range(start, end)
    count = DEFAULT_LIMIT if limit is None else limit
    newest_first = start is None
    if newest_first:
        tables, more = _newest(log_dir, count, valid)
    else:
        tables = [_valid(s.table, valid) for s in iter_rows(log_dir, start, end, newest_first=False)]
        tables = [t for t in tables if t.num_rows]
        more = sum(t.num_rows for t in tables) > count
    if not tables:
        return pa.table({"time": pa.array([], pa.timestamp("ms"))}), False, False
    table, changed = _concat(tables)
    table = table.sort_by([("time", "descending" if newest_first else "ascending")])
    return select(table.slice(0, count), wanted), more, changed


def _newest(log_dir: str, count: int, valid: bool | None) -> tuple[list[pa.Table], bool]:
    """The segments holding the ``count`` newest rows, read most recent first, stopping as soon
    as the next segment's last write is older than the ``count``-th newest row held."""
    import numpy as np

    tables: list[pa.Table] = []
    times = np.zeros(0, dtype=np.int64)
    for segment, last_write_ms in recent_segments(log_dir):
        if len(times) > count and last_write_ms < np.partition(times, -count - 1)[-count - 1]:
            return tables, True
        table = _valid(segment.table, valid)
        if table.num_rows:
            tables.append(table)
            times = np.concatenate([times, table.column("time").cast(pa.int64()).to_numpy()])
    return tables, len(times) > count


def logs(log_dir: str, limit: int | None, start: datetime | None, end: datetime | None,
         valid: bool | None, dataset: list[str] | None, exclude: list[str] | None,
         separator: str | None) -> pa.Table:
    """What ``pipeline.logs()`` shows, printing Wallaroo's warnings."""
    table, more, changed = query(log_dir, limit, start, end, valid, log_filter(dataset, exclude))
    if table.nbytes > SIZE_LIMIT_BYTES:
        keep = max(1, int(table.num_rows * SIZE_LIMIT_BYTES / table.nbytes))
        table = table.slice(0, keep)
        print(f"Warning: Pipeline log size limit exceeded. Only displaying {keep} log messages. "
              "Please request a file using export_logs.")
    elif more:
        print(MORE_LOGS)
    if changed:
        print(f"Pipeline log schema has changed over the logs requested {table.num_rows} newest records "
              "retrieved successfully. Please request additional records separately")
    return shape(table, separator or ".")


def export(log_dir: str, directory: str, prefix: str, data_size_limit: str, limit: int | None,
           start: datetime | None, end: datetime | None, valid: bool | None, dataset: list[str] | None,
           exclude: list[str] | None, separator: str | None, arrow: bool) -> list[Path]:
    """One file per schema segment (``{prefix}-1.json`` ndjson, or ``.arrow``), streamed segment
    by segment (never all rows in memory), oldest first, up to ``data_size_limit`` and ``limit``."""
    check_range(start, end)
    wanted = log_filter(dataset, exclude)
    budget, rows_left = size_bytes(data_size_limit), limit
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = _Files(folder, prefix, arrow)
    more = False
    for segment in iter_rows(log_dir, start, end, newest_first=False):
        table = shape(select(_valid(segment.table, valid), wanted), separator or ".")
        if table.num_rows == 0:
            continue
        if rows_left == 0 or budget <= 0:
            more = True
            break
        keep = table.num_rows if rows_left is None else min(rows_left, table.num_rows)
        if table.slice(0, keep).nbytes > budget:
            keep = int(keep * budget / max(table.slice(0, keep).nbytes, 1))
        more = keep < table.num_rows
        part = table.slice(0, keep)
        files.write(part)
        budget -= part.nbytes
        rows_left = None if rows_left is None else rows_left - keep
        if more:
            break
    files.close()
    if more:
        print(MORE_TO_EXPORT)
    return files.paths


class _Files:
    """The export's files: a new one whenever the schema changes."""

    def __init__(self, folder: Path, prefix: str, arrow: bool) -> None:
        self._folder, self._prefix, self._arrow = folder, prefix, arrow
        self.paths: list[Path] = []
        self._schema: pa.Schema | None = None
        self._sink: Any = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._sink is None or not table.schema.equals(self._schema):
            self.close()
            path = self._folder / f"{self._prefix}-{len(self.paths) + 1}.{'arrow' if self._arrow else 'json'}"
            self._sink = pa.ipc.new_file(str(path), table.schema) if self._arrow else path.open("wb")
            self._schema = table.schema
            self.paths.append(path)
        if self._arrow:
            self._sink.write_table(table)
            return
        if "time" in table.column_names:  # integer milliseconds, as the HTTP JSON answers
            table = table.set_column(table.column_names.index("time"), "time", table.column("time").cast(pa.int64()))
        for batch in table.to_batches(max_chunksize=4096):
            self._sink.write(b"".join(orjson.dumps(row) + b"\n" for row in batch.to_pylist()))

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


__all__ = ["export", "logs", "metrics", "metrics_series", "query", "size_bytes"]


def metrics(log_dir: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Requests, rows, latency percentiles, anomalies and errors in ``[start, end]``, from the
    inference log (and the failed requests kept beside it): no Prometheus server needed.

    A request is the rows one answer logged (they share time, replica and stage timings);
    its latency is the sum of ``metadata.elapsed`` (the ingress's own measure).
    """
    check_range(start, end)
    return _summary(_observe(log_dir, start, end), start, end)


def metrics_series(log_dir: str, start: datetime, end: datetime, buckets: int) -> list[dict[str, Any]]:
    """:func:`metrics` of each of ``buckets`` equal slices of ``[start, end]``, oldest first (the
    dashboard's charts): the log is read once and every slice summed by the same code as the
    whole range. Slices are half-open ``[lo, hi)`` but the last, which ends at ``end``
    inclusive, so every row counts in exactly one slice."""
    check_range(start, end)
    if buckets < 1:
        raise InvalidInputError("buckets", "a positive number of time buckets", repr(buckets))
    seen = _observe(log_dir, start, end)
    width = (end - start) / buckets
    series = []
    for index in range(buckets):
        low = start + width * index
        high = end if index == buckets - 1 else start + width * (index + 1)
        series.append(_summary(seen.within(_ms(low), _ms(high), closed=index == buckets - 1), low, high))
    return series


@dataclass(frozen=True)
class _Observed:
    """What the metrics read of the log in a time range: one entry per request, per answered
    row, per anomalous row and per failed request, each with its time in epoch ms."""

    request_ms: np.ndarray
    latency_ms: np.ndarray
    row_ms: np.ndarray
    anomaly_ms: np.ndarray
    error_ms: np.ndarray
    error_status: np.ndarray

    def within(self, low_ms: int, high_ms: int, closed: bool) -> _Observed:
        """The entries in ``[low_ms, high_ms)`` (``]`` when ``closed``)."""
        def inside(times: np.ndarray) -> np.ndarray:
            return (times >= low_ms) & ((times <= high_ms) if closed else (times < high_ms))

        requests, errors = inside(self.request_ms), inside(self.error_ms)
        return _Observed(self.request_ms[requests], self.latency_ms[requests], self.row_ms[inside(self.row_ms)],
                         self.anomaly_ms[inside(self.anomaly_ms)], self.error_ms[errors],
                         self.error_status[errors])


def _observe(log_dir: str, start: datetime, end: datetime) -> _Observed:
    import numpy as np

    from joey.logs import ERRORS_DIR

    requests: list[np.ndarray] = []
    latencies: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    anomalies: list[np.ndarray] = []
    for segment in iter_rows(log_dir, start, end, newest_first=False):
        table = segment.table
        rows.append(_times(table))
        if "anomaly.count" in table.column_names:
            anomalies.append(_times(table.filter(pc.greater(table.column("anomaly.count"), 0))))
        if "metadata.elapsed" not in table.column_names:
            continue
        total = pc.list_value_length(table.column("metadata.elapsed"))  # rows of one request share it
        keyed = pa.table({"time": table.column("time"), "partition": table.column("metadata.partition"),
                          "elapsed": pc.cast(table.column("metadata.elapsed"), pa.list_(pa.int64())),
                          "stages": total})
        sums = pc.list_flatten(keyed.column("elapsed"))
        per_row = np.add.reduceat(sums.to_numpy(zero_copy_only=False), _starts(keyed)) if len(sums) else \
            np.zeros(keyed.num_rows)
        keyed = keyed.append_column("latency_ns", pa.array(per_row.astype(np.int64)))
        grouped = keyed.group_by(["time", "partition", "latency_ns"]).aggregate([])
        requests.append(_times(grouped))
        latencies.append(grouped.column("latency_ns").to_numpy() / 1e6)
    error_ms: list[np.ndarray] = []
    error_status: list[np.ndarray] = []
    for segment in iter_rows(f"{log_dir}/{ERRORS_DIR}", start, end, newest_first=False):
        error_ms.append(_times(segment.table))
        error_status.append(segment.table.column("status").to_numpy())

    def joined(parts: list[np.ndarray], dtype: Any = np.int64) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return _Observed(joined(requests), joined(latencies, np.float64), joined(rows), joined(anomalies),
                     joined(error_ms), joined(error_status, np.int32))


def _summary(seen: _Observed, start: datetime, end: datetime) -> dict[str, Any]:
    """The metrics of what was observed in ``[start, end]``: the one formula for every caller."""
    import numpy as np

    seconds = max((end - start).total_seconds(), 1e-9)
    errors: dict[str, int] = {}
    for status, count in zip(*np.unique(seen.error_status, return_counts=True), strict=True):
        errors[str(status)] = errors.get(str(status), 0) + int(count)
    ms = seen.latency_ms
    percentiles = ({f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)} if len(ms)
                   else {"p50": None, "p95": None, "p99": None})
    requests, rows = len(seen.request_ms), len(seen.row_ms)
    return {"start": start, "end": end, "requests": requests, "rows": rows,
            "rps": requests / seconds, "rows_per_s": rows / seconds, "latency_ms": percentiles,
            "anomalies": len(seen.anomaly_ms), "errors": sum(errors.values()), "errors_by_status": errors}


def _times(table: pa.Table) -> np.ndarray:
    """A table's ``time`` column as epoch milliseconds."""
    return table.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False).astype("int64")


def _ms(moment: datetime) -> int:
    """A datetime as epoch milliseconds, as the log's ``time`` column (naive: UTC)."""
    return int(pa.scalar(moment, pa.timestamp("ms", "UTC")).cast(pa.int64()).as_py())


def _starts(keyed: pa.Table) -> np.ndarray:
    import numpy as np

    lengths = keyed.column("stages").to_numpy(zero_copy_only=False).astype(np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
