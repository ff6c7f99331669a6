"""Writing the inference log: segments per replica, off the event loop, bounded."""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import threading
import time
from typing import Any

import pyarrow as pa
from fsspec.core import url_to_fs

from joey.logs import SEGMENT_SUFFIX

logger = logging.getLogger(__name__)

MAX_OPEN_SEGMENTS = 8
"""Schemas written at once (e.g. JSON and Arrow clients); the oldest is closed past it."""


class _Segment:
    def __init__(self, fs: Any, path: str, schema: pa.Schema) -> None:
        self.path = path
        self._file = fs.open(path, "wb")
        self._stream = pa.ipc.new_stream(self._file, schema)
        self.last_write = time.monotonic()

    def write(self, table: pa.Table) -> None:
        self._stream.write_table(table)
        self._file.flush()  # into the OS: survives the process being killed
        self.last_write = time.monotonic()

    def size(self) -> int:
        return int(self._file.tell())

    def close(self) -> None:
        self._stream.close()
        self._file.close()


class SegmentWriter:
    """Appends answered rows to this replica's segments (one per schema)."""

    def __init__(self, log_dir: str, replica: str, max_bytes: int = 32 * 2**20) -> None:
        self._fs, self._dir = url_to_fs(log_dir)
        self._fs.makedirs(self._dir, exist_ok=True)
        self._replica = "".join(c if c.isalnum() or c in "-_" else "-" for c in replica)
        self._seq = itertools.count()
        self._max_bytes = max_bytes
        self._open: dict[pa.Schema, _Segment] = {}

    def write(self, table: pa.Table) -> None:
        segment = self._open.get(table.schema)
        if segment is None:
            if len(self._open) >= MAX_OPEN_SEGMENTS:
                oldest = next(iter(self._open))
                self._open.pop(oldest).close()
            name = f"{time.time_ns() // 1_000_000:013d}-{self._replica}-{next(self._seq):06d}{SEGMENT_SUFFIX}"
            segment = _Segment(self._fs, f"{self._dir}/{name}", table.schema)
            self._open[table.schema] = segment
        segment.write(table)
        if segment.size() >= self._max_bytes:  # the next rows start a new segment
            self._open.pop(table.schema).close()

    def close_idle(self, idle_s: float) -> None:
        """Close segments nobody wrote to for ``idle_s``: closed ones can be compacted."""
        now = time.monotonic()
        for schema, segment in list(self._open.items()):
            if now - segment.last_write > idle_s:
                self._open.pop(schema).close()

    def close(self) -> None:
        for segment in self._open.values():
            segment.close()
        self._open.clear()


class LogFull(Exception):
    """The writer's queue is full: storage is slower than the requests."""


class BackgroundWriter:
    """A thread that writes for the event loop; ``submit`` never blocks.

    The caller awaits the returned future before answering, so an answer implies its rows
    reached the OS; past ``max_pending`` waiting tables, ``submit`` raises ``LogFull`` (the
    ingress answers 503 with Retry-After instead of dropping rows).
    """

    INLINE_BYTES = 64 * 2**10
    """Answers up to this size are written by the caller when the writer is idle: two thread
    hops cost more than writing a few rows (measured ~0.4 ms of a single-row request)."""

    def __init__(self, writer: SegmentWriter, max_pending: int, idle_close_s: float = 60.0) -> None:
        self._writer = writer
        self._lock = threading.Lock()
        self._pending = 0  # queued or being written; changed under _count_lock
        self._count_lock = threading.Lock()
        self._idle_close_s = idle_close_s
        self._queue: queue.Queue[tuple[pa.Table, concurrent.futures.Future[None]] | None] = \
            queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="joey-log-writer", daemon=True)
        self._thread.start()

    def submit(self, table: pa.Table) -> concurrent.futures.Future[None]:
        """A future done once ``table`` reached the OS: already done when it was small and the
        writer idle (written here, in order: nothing else is queued or being written). One
        thread submits (the replica's event loop)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if table.get_total_buffer_size() <= self.INLINE_BYTES and self._pending == 0 and self._lock.acquire(blocking=False):
            try:
                self._write(table, future)
            finally:
                self._lock.release()
            return future
        with self._count_lock:
            self._pending += 1
        try:
            self._queue.put_nowait((table, future))
        except queue.Full:
            with self._count_lock:
                self._pending -= 1
            raise LogFull(f"{self._queue.maxsize} answers are waiting to be logged") from None
        return future

    def _write(self, table: pa.Table, future: concurrent.futures.Future[None]) -> None:
        """Write ``table`` (holding ``_lock``) and settle ``future`` with the outcome."""
        try:
            self._writer.write(table)
        except Exception as exc:
            logger.exception("inference log write failed")
            future.set_exception(exc)
        else:
            future.set_result(None)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle_close_s / 2)
            except queue.Empty:
                with self._lock:
                    self._writer.close_idle(self._idle_close_s)
                continue
            if item is None:
                break
            table, future = item
            try:
                with self._lock:
                    self._write(table, future)
            finally:
                with self._count_lock:
                    self._pending -= 1
        with self._lock:
            self._writer.close()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, close the segments (flushed on undeploy and shutdown)."""
        if self._thread.is_alive():
            self._queue.put(None, timeout=timeout_s)
            self._thread.join(timeout_s)
