"""The inference log's writer and reader, without Ray."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from support.waiting import wait_until

from joey.logs.reader import iter_rows, segment_paths
from joey.logs.writer import BackgroundWriter, LogFull, SegmentWriter
from joey.platform.logs import size_bytes


def _rows(ids: list[int], time_ms: int = 1_700_000_000_000) -> pa.Table:
    return pa.table({"time": pa.array([time_ms + i for i in ids], pa.timestamp("ms")),
                     "in.id": pa.array(ids, pa.int64())})


def test_rows_are_readable_while_the_segment_is_still_open(tmp_path: Path) -> None:
    writer = SegmentWriter(str(tmp_path / "log"), "app#replica-1")
    writer.write(_rows([1, 2]))
    writer.write(_rows([3]))
    (segment,) = list(iter_rows(str(tmp_path / "log"), newest_first=False))
    assert segment.table.column("in.id").to_pylist() == [1, 2, 3]
    writer.close()
    assert [p.rsplit("/", 1)[-1].split("-", 1)[1] for p in segment_paths(str(tmp_path / "log"))] == [
        "app-replica-1-000000.arrow"]


def test_each_schema_gets_its_own_segment(tmp_path: Path) -> None:
    writer = SegmentWriter(str(tmp_path), "r")
    writer.write(_rows([1]))
    writer.write(_rows([2]).append_column("in.extra", pa.array(["x"])))
    writer.write(_rows([3]))
    writer.close()
    tables = [s.table for s in iter_rows(str(tmp_path), newest_first=False)]
    assert sorted(t.num_rows for t in tables) == [1, 2]


class _Blocked(SegmentWriter):
    """A writer on storage that does not answer until released."""

    def __init__(self, directory: str) -> None:
        super().__init__(directory, "r")
        self.release = threading.Event()

    def write(self, table: pa.Table) -> None:
        self.release.wait(10)
        super().write(table)


def test_a_full_buffer_refuses_instead_of_blocking_or_dropping(tmp_path: Path) -> None:
    slow = _Blocked(str(tmp_path))
    writer = BackgroundWriter(slow, max_pending=2)
    futures = [writer.submit(_rows([0]))]
    wait_until(lambda: writer._queue.qsize() == 0, timeout=10)  # taken by the thread, now blocked
    futures += [writer.submit(_rows([i])) for i in (1, 2)]  # two waiting: the buffer is full
    with pytest.raises(LogFull, match="2 answers are waiting"):
        writer.submit(_rows([9]))
    slow.release.set()
    for future in futures:
        future.result(timeout=10)
    writer.close()
    (segment,) = list(iter_rows(str(tmp_path), newest_first=False))
    assert segment.table.column("in.id").to_pylist() == [0, 1, 2]


@pytest.mark.parametrize(("spec", "expected"), [("100MB", 100 * 10**6), ("10 MiB", 10 * 2**20),
                                                ("1.5 KiB", 1536), ("7", 7), ("2gb", 2 * 10**9)])
def test_size_units_are_wallaroos(spec: str, expected: int) -> None:
    assert size_bytes(spec) == expected


def test_segments_rotate_by_size_and_the_newest_rows_come_from_the_newest_segments(tmp_path: Path) -> None:
    from joey.platform.logs import query
    from joey.tables import DatasetFilter

    one = SegmentWriter(str(tmp_path), "replica-a", max_bytes=2000)
    two = SegmentWriter(str(tmp_path), "replica-b", max_bytes=2000)
    for batch in range(30):  # two replicas, interleaved in time
        (one if batch % 2 else two).write(_rows([batch * 10 + i for i in range(10)]))
    one.close()
    two.close()
    assert len(segment_paths(str(tmp_path))) > 4
    table, more, changed = query(str(tmp_path), 25, None, None, None, DatasetFilter(("*",)))
    assert more and not changed
    assert table.column("in.id").to_pylist() == list(range(299, 274, -1))
    everything, more, _ = query(str(tmp_path), 1000, None, None, None, DatasetFilter(("*",)))
    assert not more and everything.num_rows == 300
