"""Reading the inference log back: newest or oldest first, by time, skipping damage."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from fsspec.core import url_to_fs

from joey.logs import SEGMENT_SUFFIX, read_stream
from joey.logs.compact import is_compacted, replaced_segments

logger = logging.getLogger(__name__)


class DamagedSegmentWarning(UserWarning):
    """A segment ended mid-write (a replica killed while writing); its complete rows are kept."""


@dataclass(frozen=True)
class Segment:
    """One segment's complete batches, as one table."""

    path: str
    table: pa.Table


def segment_paths(log_dir: str) -> list[str]:
    """Every segment of a pipeline, oldest first (names start with their first write's time),
    without those a compacted segment already holds."""
    fs, root = url_to_fs(log_dir)
    if not fs.exists(root):
        return []
    paths = [p for p in fs.ls(root, detail=False) if p.endswith(SEGMENT_SUFFIX)]
    if "://" not in log_dir and any(is_compacted(p) for p in paths):
        replaced = replaced_segments(Path(root))
        paths = [p for p in paths if p.rsplit("/", 1)[-1] not in replaced]
    return sorted(paths, key=lambda p: p.rsplit("/", 1)[-1])


def read_segment(log_dir: str, path: str) -> Segment | None:
    """The complete batches of one segment; a damaged tail is skipped with a warning."""
    fs, _ = url_to_fs(log_dir)
    try:
        with fs.open(path, "rb") as file:
            schema, batches, damage = read_stream(file)
    except OSError as exc:
        schema, batches, damage = None, [], exc
    if damage is not None:
        warnings.warn(f"inference log segment {path} is damaged ({damage}); kept its "
                      f"{sum(b.num_rows for b in batches)} complete rows", DamagedSegmentWarning,
                      stacklevel=2)
    if schema is None:
        return None
    return Segment(path, pa.Table.from_batches(batches, schema=schema).replace_schema_metadata(None))


def _in_range(table: pa.Table, start: datetime | None, end: datetime | None) -> pa.Table:
    if start is None or end is None:
        return table
    time = table.column("time")
    low = pa.scalar(start, pa.timestamp("ms", "UTC")).cast(pa.timestamp("ms"))
    high = pa.scalar(end, pa.timestamp("ms", "UTC")).cast(pa.timestamp("ms"))
    mask = pc.and_(pc.greater_equal(time, low), pc.less_equal(time, high))
    return table.filter(mask)


def iter_rows(log_dir: str, start: datetime | None = None, end: datetime | None = None,
              newest_first: bool = True) -> Iterator[Segment]:
    """Segments' rows in time order (each segment's table sorted), newest segments first when
    ``newest_first``; with a range, only rows inside it."""
    paths = segment_paths(log_dir)
    for path in reversed(paths) if newest_first else paths:
        segment = read_segment(log_dir, path)
        if segment is None or segment.table.num_rows == 0:
            continue
        table = _in_range(segment.table, start, end)
        if table.num_rows == 0:
            continue
        order = "descending" if newest_first else "ascending"
        yield Segment(segment.path, table.sort_by([("time", order)]))


def recent_segments(log_dir: str) -> Iterator[tuple[Segment, int]]:
    """Segments with the time of their last write (ms), most recently written first.

    No row of a segment is newer than its last write, so a reader that wants the newest
    rows stops once a segment's last write is older than what it already holds.
    """
    fs, _ = url_to_fs(log_dir)
    paths = segment_paths(log_dir)
    stamped = []
    for path in paths:
        try:
            modified = fs.info(path).get("mtime") or fs.modified(path).timestamp()
        except (OSError, NotImplementedError):
            modified = float("inf")
        stamped.append((float(modified), path))
    for modified, path in sorted(stamped, reverse=True):
        segment = read_segment(log_dir, path)
        if segment is not None and segment.table.num_rows:
            yield segment, int(modified * 1000) + 1
