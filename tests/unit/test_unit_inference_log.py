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
    writer.INLINE_BYTES = -1  # every answer through the writer thread
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


def test_an_idle_writer_writes_a_small_answer_at_once_and_a_busy_one_keeps_the_order(tmp_path: Path) -> None:
    slow = _Blocked(str(tmp_path))
    slow.release.set()
    writer = BackgroundWriter(slow, max_pending=4)
    written = writer.submit(_rows([0]))
    assert written.done() and written.result() is None  # no thread hop for a few rows
    slow.release.clear()
    big = _rows(list(range(100, 20_100)))  # over INLINE_BYTES: the thread writes it
    futures = [writer.submit(big), writer.submit(_rows([1]))]
    assert not futures[1].done()  # queued behind the big one, not written ahead of it
    slow.release.set()
    for future in futures:
        future.result(timeout=10)
    writer.close()
    (segment,) = [p for p in tmp_path.iterdir() if p.is_file()]
    with pa.ipc.open_stream(pa.memory_map(str(segment))) as stream:  # in the order written
        ids = [i for batch in stream for i in batch.column(1).to_pylist()]
    assert ids == [0, *range(100, 20_100), 1]


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


def _ids_in(log_dir: Path) -> list[int]:
    return sorted(i for s in iter_rows(str(log_dir), newest_first=False) for i in s.table.column("in.id").to_pylist())


def test_compaction_merges_closed_segments_and_keeps_every_row_once(tmp_path: Path) -> None:
    from joey.logs.compact import compact

    for replica in range(3):
        writer = SegmentWriter(str(tmp_path), f"r{replica}")
        writer.write(_rows([replica * 10, replica * 10 + 1]))
        writer.close()
    still_open = SegmentWriter(str(tmp_path), "live")
    still_open.write(_rows([99]))  # a live writer's segment: never compacted under it
    assert compact(str(tmp_path)) == 3
    names = [p.rsplit("/", 1)[-1] for p in segment_paths(str(tmp_path))]
    assert len(names) == 2 and sum(n.endswith(".compacted.arrow") for n in names) == 1
    still_open.write(_rows([100]))
    still_open.close()
    assert _ids_in(tmp_path) == [0, 1, 10, 11, 20, 21, 99, 100]
    assert compact(str(tmp_path)) == 2  # the compacted segment and the now closed one
    assert _ids_in(tmp_path) == [0, 1, 10, 11, 20, 21, 99, 100]


def test_a_crash_between_rename_and_delete_doubles_no_row(tmp_path: Path, monkeypatch) -> None:
    from joey.logs import compact as compaction

    for replica in range(2):
        writer = SegmentWriter(str(tmp_path), f"r{replica}")
        writer.write(_rows([replica]))
        writer.close()
    monkeypatch.setattr(Path, "unlink", lambda *_args, **_kwargs: None)  # the deletes never happen
    assert compaction.compact(str(tmp_path)) == 2
    monkeypatch.undo()
    (tmp_path / compaction.LOCK).unlink()  # a crashed compactor's lock, gone stale
    assert len(list(tmp_path.glob("*.arrow"))) == 3  # sources and the merged segment
    assert _ids_in(tmp_path) == [0, 1]  # the reader skips the sources the merged one holds
    assert compaction.compact(str(tmp_path)) == 0  # the next pass finishes the deletes
    assert len(list(tmp_path.glob("*.arrow"))) == 1 and _ids_in(tmp_path) == [0, 1]


def test_a_dead_writers_segment_is_compacted_once_it_is_old(tmp_path: Path) -> None:
    import os

    from joey.logs.compact import compact

    dead = SegmentWriter(str(tmp_path), "dead")
    dead.write(_rows([1]))  # never closed: its replica was killed
    other = SegmentWriter(str(tmp_path), "other")
    other.write(_rows([2]))
    other.close()
    assert compact(str(tmp_path)) == 0  # one closed segment: nothing to merge
    (path,) = [p for p in tmp_path.glob("*dead*.arrow")]
    os.utime(path, (1, 1))  # not written to for a long time
    assert compact(str(tmp_path)) == 2
    assert _ids_in(tmp_path) == [1, 2]


def test_idle_segments_are_closed(tmp_path: Path) -> None:
    writer = SegmentWriter(str(tmp_path), "r")
    writer.write(_rows([1]))
    writer.close_idle(0.0)
    (path,) = list(tmp_path.glob("*.arrow"))
    assert path.read_bytes().endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
