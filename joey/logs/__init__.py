"""The inference log's on-disk format: append-only Arrow IPC stream segments per replica.

Neutral like ``joey.tables``: the data plane writes segments (``writer``), the control
plane reads and exports them (``reader``); this package imports neither plane.

Layout: ``{log_dir}/{first_time_ms:013d}-{replica}-{seq:06d}.arrow``, one Arrow IPC
stream per file, one record batch per answered request, every row a row of the answer
with all its columns (flat, ``.``-separated). A new schema (other request columns, a new
model or validation) starts a new segment. Each batch reaches the OS before the request
is answered, so a replica killed right after answering loses nothing.
"""

import time
from typing import Any

import pyarrow as pa

SEGMENT_SUFFIX = ".arrow"
ERRORS_DIR = "errors"
"""Beside the answered rows: one row per failed request (time, status, kind, error)."""


def read_stream(file: Any) -> tuple[pa.Schema | None, list[pa.RecordBatch], Exception | None]:
    """One segment's schema and complete batches, in order, and what stopped the reading
    early (a tail cut mid-write) if anything did."""
    schema = None
    batches: list[pa.RecordBatch] = []
    try:
        reader = pa.ipc.open_stream(file)
        schema = reader.schema
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        return schema, batches, exc
    return schema, batches, None


def error_rows(error: Exception) -> pa.Table:
    """A failed request as the one row ``{log_dir}/errors`` keeps of it."""
    return pa.table({
        "time": pa.array([time.time_ns() // 1_000_000], pa.timestamp("ms")),
        "status": pa.array([int(getattr(error, "status", 500))], pa.int32()),
        "kind": pa.array([type(error).__name__]),
        "error": pa.array([str(error)[:2000]]),
    })


__all__ = ["ERRORS_DIR", "SEGMENT_SUFFIX", "error_rows", "read_stream"]
