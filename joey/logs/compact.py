"""Compaction: closed segments of one schema merged into one, without losing or doubling a row.

A segment is closed when it ends with the Arrow stream's end marker (its writer closed it:
rotation, a new schema, an idle writer, shutdown) or when nobody has written to it for
``dead_after_s`` (its replica died; live writers close idle segments long before that).
The merged segment names its sources in its schema metadata and is renamed into place
before they are deleted; a reader skips any source a merged segment names, so a crash
between the two steps doubles nothing. One compactor at a time per pipeline (a lock file).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa

from joey.logs import SEGMENT_SUFFIX, read_stream

logger = logging.getLogger(__name__)

END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
SOURCES_KEY = b"joey.compacted_from"
LOCK = ".compact.lock"
COMPACTED_SUFFIX = ".compacted" + SEGMENT_SUFFIX
"""Written segments' names hold no ``.`` before the suffix, so this names only merged ones."""


def is_compacted(name: str) -> bool:
    return name.endswith(COMPACTED_SUFFIX)


def compacted_sources(schema: pa.Schema) -> list[str]:
    """The segment file names a compacted segment replaces (empty for a written one)."""
    raw = (schema.metadata or {}).get(SOURCES_KEY)
    return list(json.loads(raw)) if raw else []


def _closed(path: Path, now: float, dead_after_s: float) -> bool:
    try:
        stat = path.stat()
        with path.open("rb") as file:
            file.seek(max(0, stat.st_size - len(END_OF_STREAM)))
            ends = file.read() == END_OF_STREAM
    except OSError:
        return False
    return ends or now - stat.st_mtime > dead_after_s


def _lock(folder: Path, stale_s: float) -> int | None:
    lock = folder / LOCK
    try:
        return os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            if time.time() - lock.stat().st_mtime > stale_s:  # a compactor that died
                lock.unlink(missing_ok=True)
        except OSError:
            pass
        return None


def compact(log_dir: str, min_segments: int = 2, dead_after_s: float = 3600.0) -> int:
    """Merge the closed segments of ``log_dir`` by schema; the number of segments merged.

    Local (and shared-filesystem) paths only: other fsspec stores are left as written.
    """
    folder = Path(log_dir)
    if "://" in log_dir or not folder.is_dir():
        return 0
    handle = _lock(folder, stale_s=dead_after_s)
    if handle is None:
        return 0
    try:
        return _compact(folder, min_segments, dead_after_s)
    finally:
        os.close(handle)
        (folder / LOCK).unlink(missing_ok=True)


def replaced_segments(folder: Path) -> set[str]:
    """Names of segments whose rows a compacted segment already holds (left by a crash)."""
    replaced: set[str] = set()
    for path in folder.glob(f"*{COMPACTED_SUFFIX}"):
        try:
            with pa.OSFile(str(path), "rb") as file:
                replaced.update(compacted_sources(pa.ipc.open_stream(file).schema))
        except (pa.ArrowInvalid, OSError):
            continue
    return replaced


def _compact(folder: Path, min_segments: int, dead_after_s: float) -> int:
    now = time.time()
    for name in replaced_segments(folder):  # finish what a crashed compactor began
        (folder / name).unlink(missing_ok=True)
    groups: dict[pa.Schema, list[tuple[Path, pa.Table]]] = {}
    for path in sorted(folder.glob(f"*{SEGMENT_SUFFIX}")):
        if not _closed(path, now, dead_after_s):
            continue
        try:
            with pa.OSFile(str(path), "rb") as file:
                schema, batches, damage = read_stream(file)
        except OSError as exc:
            schema, batches, damage = None, [], exc
        if damage is not None or schema is None:  # a damaged tail: leave it to the reader
            logger.warning("not compacting %s: %s", path, damage)
            continue
        table = pa.Table.from_batches(batches, schema=schema)
        plain = table.schema.remove_metadata()
        groups.setdefault(plain, []).append((path, table.replace_schema_metadata(None)))
    merged = 0
    for schema, members in groups.items():
        if len(members) < min_segments:
            continue
        sources = [p.name for p, _ in members]
        first = sources[0].split("-", 1)[0]
        target = folder / f"{first}-{uuid.uuid4().hex[:12]}{COMPACTED_SUFFIX}"
        partial = folder / f".{target.name}.part"
        tagged = schema.with_metadata({SOURCES_KEY: json.dumps(sources).encode()})
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, tagged) as stream:
            for _, table in members:
                stream.write_table(table.cast(tagged))
        os.replace(partial, target)  # from here a reader skips the sources
        for path, _ in members:
            path.unlink(missing_ok=True)
        merged += len(members)
        logger.info("compacted %d segments into %s", len(members), target.name)
    return merged


class Compactor:
    """A daemon thread that compacts ``log_dir`` every ``interval_s`` (off the write path)."""

    def __init__(self, log_dir: str, interval_s: float) -> None:
        self._log_dir = log_dir
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="joey-log-compactor", daemon=True)
        if interval_s > 0:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                compact(self._log_dir)
            except Exception:
                logger.exception("inference log compaction failed; segments stay as written")

    def close(self) -> None:
        self._stop.set()
