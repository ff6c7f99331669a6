"""The inference log on real Serve: every answered row, read back Wallaroo's way."""

from __future__ import annotations

import json
import os
import signal
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from support.waiting import wait_until

from joey.errors import InvalidInputError, JoeyError
from joey.logs.reader import DamagedSegmentWarning, segment_paths
from joey.testing.onnx_models import mlp

pytestmark = pytest.mark.ray


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _request(ids: list[int], seed: int = 0) -> pa.Table:
    x = np.random.default_rng(seed).normal(size=(len(ids), 29)).astype(np.float32)
    return pa.table({"tensor": _fixed(x), "id": pa.array(ids, pa.int64())})


@pytest.fixture
def logged(client, tmp_path: Path):
    model = client.upload_model("ccfraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    return client.build_pipeline("logged").add_model_step(model).deploy(), model


def _ids(table: pa.Table) -> list[int]:
    return table.column("in.id").to_pylist()


def test_logs_have_wallaroos_semantics(client, logged, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    pipeline, _ = logged
    assert pipeline.logs(arrow=True).num_rows == 0
    before = datetime.now(UTC) - timedelta(seconds=1)
    for request in range(5):
        pipeline.infer(_request([request * 10, request * 10 + 1], seed=request))
    # visible at once (the rows reached the OS before the answer), newest first, limit 100
    table = pipeline.logs(arrow=True)
    assert table.num_rows == 10
    assert table.column_names[:4] == ["time", "in.tensor", "in.id", "out.dense_1"]
    assert "anomaly.count" in table.column_names and not any(c.startswith("metadata.") for c in table.column_names)
    times = table.column("time").to_pylist()
    assert times == sorted(times, reverse=True)
    assert sorted(_ids(table)) == sorted([r * 10 + i for r in range(5) for i in (0, 1)])
    capsys.readouterr()
    assert pipeline.logs(limit=3, arrow=True).num_rows == 3
    assert "Warning: There are more logs available." in capsys.readouterr().out
    # both datetimes: oldest first, in range; one alone: Wallaroo's message
    after = datetime.now(UTC) + timedelta(seconds=1)
    ranged = pipeline.logs(start_datetime=before, end_datetime=after, arrow=True)
    assert ranged.column("time").to_pylist() == sorted(times)
    with pytest.raises(JoeyError, match=r"Please provide both start datetime and end datetime together\."):
        pipeline.logs(start_datetime=before)
    # dataset filters, metadata on request, DataFrames by default
    meta = pipeline.logs(dataset=["time", "out", "metadata"], arrow=True)
    assert [c for c in meta.column_names if c.startswith("metadata.")] == [
        "metadata.last_model", "metadata.pipeline_version", "metadata.elapsed", "metadata.dropped",
        "metadata.partition"]
    assert json.loads(meta.column("metadata.last_model")[0].as_py())["model_name"] == "ccfraud"
    frame = pipeline.logs(dataset_exclude=["in"])
    assert list(frame.columns) == ["time", "out.dense_1", "anomaly.count"] and len(frame) == 10
    with pytest.raises(InvalidInputError, match="dataset"):
        pipeline.logs(dataset=["outputs"])
    # kept across undeploy, redeploy and a new pipeline version
    pipeline.undeploy()
    assert pipeline.logs(arrow=True).num_rows == 10
    other = client.upload_model("ccfraud", mlp(tmp_path / "v2.onnx", seed=5)).configure(tensor_fields=["tensor"])
    pipeline.replace_with_model_step(0, other).deploy()  # a new model version, a new pipeline version
    pipeline.infer(_request([99], seed=9))
    assert sorted(_ids(pipeline.logs(arrow=True)))[-1] == 99
    assert pipeline.logs(arrow=True).num_rows == 11


def test_valid_filters_rows_by_their_anomalies(client, tmp_path: Path) -> None:
    import polars as pl

    model = client.upload_model("ccfraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("checked").add_model_step(model)
    pipeline.add_validations(negative=pl.col("in.tensor").list.get(0) < 0).deploy()
    table = _request(list(range(20)))
    pipeline.infer(table)
    negative = [i for i, row in enumerate(table.column("tensor").to_pylist()) if row[0] < 0]
    assert sorted(_ids(pipeline.logs(valid=False, arrow=True))) == negative
    assert sorted(_ids(pipeline.logs(valid=True, arrow=True))) == [i for i in range(20) if i not in negative]


def test_a_new_schema_starts_a_new_segment(logged, settings) -> None:
    pipeline, _ = logged
    pipeline.infer(_request([1]))
    pipeline.infer(_request([2]).append_column("extra", pa.array(["x"])))
    log_dir = f"{settings.resolved_artifacts_uri}/logs/default/logged"
    assert len(segment_paths(log_dir)) == 2
    table = pipeline.logs(arrow=True)
    assert sorted(_ids(table)) == [1, 2]
    assert table.column("in.extra").to_pylist() == ["x", None]


def test_a_damaged_segment_keeps_its_complete_rows(logged, settings) -> None:
    pipeline, _ = logged
    for request in range(3):
        pipeline.infer(_request([request]))
    (path,) = segment_paths(f"{settings.resolved_artifacts_uri}/logs/default/logged")
    pipeline.undeploy()  # the segment is closed; now cut it mid-batch, as a killed writer would
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) - 200])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = pipeline.logs(arrow=True)
    assert sorted(_ids(table)) == [0, 1]
    assert any(issubclass(w.category, DamagedSegmentWarning) and path in str(w.message) for w in caught)


def _replica_pids(app: str, deployment: str) -> list[int]:
    """Processes of a deployment's replicas (Ray titles them ``ServeReplica:{app}:{deployment}``)."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and f"ServeReplica:{app}:{deployment}" in _cmdline(entry)]


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _ingress_pids(app: str) -> list[int]:
    return _replica_pids(app, "ingress")


def test_a_replica_killed_right_after_answering_loses_no_row(logged) -> None:
    pipeline, _ = logged
    answered = []
    for request in range(20):
        pipeline.infer(_request([request]))
        answered.append(request)
    (pid,) = _ingress_pids("default-logged")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pid not in _ingress_pids("default-logged"), timeout=30)
    table = pipeline.logs(limit=1000, arrow=True)
    assert sorted(_ids(table)) == answered  # every answered row, exactly once


def test_export_logs_writes_ndjson_or_arrow_per_schema(logged, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pipeline, _ = logged
    pipeline.infer(_request([1, 2]))
    pipeline.infer(_request([3]).append_column("extra", pa.array(["x"])))
    out = tmp_path / "exported"
    pipeline.export_logs(directory=str(out), file_prefix="fraud")
    assert sorted(p.name for p in out.iterdir()) == ["fraud-1.json", "fraud-2.json"]
    lines = [json.loads(line) for line in (out / "fraud-1.json").read_text().splitlines()]
    assert [row["in.id"] for row in lines] == [1, 2] and isinstance(lines[0]["time"], int)
    assert set(lines[0]) == {"time", "in.tensor", "in.id", "out.dense_1", "anomaly.count"}
    pipeline.export_logs(directory=str(out / "arrow"), arrow=True, dataset=["time", "in", "metadata"])
    with pa.ipc.open_file(out / "arrow" / "logged-1.arrow") as reader:
        table = reader.read_all()
    assert "metadata.partition" in table.column_names and "out.dense_1" not in table.column_names
    capsys.readouterr()
    pipeline.export_logs(directory=str(out / "small"), limit=1)
    assert "Warning: There are more logs available." in capsys.readouterr().out
    assert [json.loads(x)["in.id"] for x in (out / "small" / "logged-1.json").read_text().splitlines()] == [1]


def test_every_answered_row_is_logged_once_while_replicas_are_killed(logged) -> None:
    import itertools
    import threading
    import time

    from joey.tables import ARROW_FILE, write_body

    pipeline, _ = logged
    counter = itertools.count()
    answered: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_thread() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                ids = [next(counter) for _ in range(3)]
                body = write_body(_request(ids, seed=ids[0]), "arrow")[0]
                try:
                    response = http.post(pipeline.url(), content=body, headers={"Content-Type": ARROW_FILE})
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    with lock:
                        answered.extend(ids)

    threads = [threading.Thread(target=client_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for deployment in ("step-0-ccfraud", "ingress", "step-0-ccfraud", "ingress"):
            time.sleep(4)
            for pid in _replica_pids("default-logged", deployment):
                os.kill(pid, signal.SIGKILL)
        time.sleep(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    logged_ids = _ids(pipeline.logs(limit=10**7, arrow=True))
    assert len(answered) > 100
    counts = {i: logged_ids.count(i) for i in answered}
    assert [i for i, n in counts.items() if n != 1] == []  # every answered row, exactly once


def test_the_ingress_compacts_closed_segments_in_the_background(settings, tmp_path: Path) -> None:
    import joey

    fast = joey.Client(settings=settings.model_copy(update={"log_compact_interval_s": 1.0}))
    model = fast.upload_model("ccfraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    pipeline = fast.build_pipeline("compacted").add_model_step(model)
    log_dir = f"{settings.resolved_artifacts_uri}/logs/default/compacted"
    for round_ in range(3):  # each undeploy closes the replica's segment
        pipeline.deploy()
        pipeline.infer(_request([round_ * 10, round_ * 10 + 1]))
        pipeline.undeploy()
    pipeline.deploy()
    try:
        wait_until(lambda: len(segment_paths(log_dir)) == 1, timeout=30)
        (merged,) = segment_paths(log_dir)
        assert merged.endswith(".compacted.arrow")
        assert sorted(_ids(pipeline.logs(arrow=True))) == [0, 1, 10, 11, 20, 21]
    finally:
        pipeline.undeploy()
