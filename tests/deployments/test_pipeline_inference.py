"""End to end on a real local Ray and Serve: SDK inference equals bare onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from support.sdk_modes import client_in_both_modes

from joey.testing.onnx_models import float64_linear, mlp, multi_io, run_onnx

pytestmark = pytest.mark.ray

client = client_in_both_modes()

ROWS = 10_000


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


@pytest.fixture
def fraud_chain(client, tmp_path: Path):
    """ccfraud-style MLP (29 floats in, 1 out) chained into a calibration MLP."""
    first = mlp(tmp_path / "fraud.onnx", n_in=29, n_out=1, seed=11)
    second = mlp(tmp_path / "calib.onnx", n_in=1, hidden=4, n_out=1, seed=12,
                 input_name="score", output_name="probability")
    fraud = client.upload_model("fraud", first).configure(tensor_fields=["tensor"])
    calib = client.upload_model("calib", second).configure(tensor_fields=["dense_1"])
    pipeline = client.build_pipeline("fraud-chain").add_model_step(fraud).add_model_step(calib)
    pipeline.deploy()
    x = np.random.default_rng(0).normal(size=(ROWS, 29)).astype(np.float32)
    reference = run_onnx(second, {"score": run_onnx(first, {"dense_input": x})["dense_1"]})["probability"]
    return pipeline, x, reference


def test_dataframe_chain_equals_onnxruntime(fraud_chain) -> None:
    pipeline, x, reference = fraud_chain
    frame = pd.DataFrame({"tensor": list(x.astype(np.float64))})
    result = pipeline.infer(frame)
    assert isinstance(result, pd.DataFrame)
    assert list(result.columns) == ["time", "in.tensor", "out.probability", "anomaly.count"]
    assert str(result["time"].dtype) == "datetime64[ms]"
    assert str(result["anomaly.count"].dtype) == "uint32"
    assert len(result) == ROWS
    assert isinstance(result["out.probability"].iloc[0], list)
    got = np.array(result["out.probability"].tolist(), dtype=np.float32)
    assert np.abs(got - reference).max() < 1e-6
    # in.tensor echoes what was sent, at the precision it was sent
    np.testing.assert_array_equal(np.array(result["in.tensor"].iloc[5]), x[5].astype(np.float64))


def test_infer_works_inside_a_running_event_loop_as_in_a_notebook(fraud_chain) -> None:
    """A Jupyter kernel runs every cell inside a running asyncio loop; Serve's handles refuse a
    blocking wait there unless told the caller may block."""
    import asyncio

    pipeline, x, reference = fraud_chain

    async def cell() -> pa.Table:
        return pipeline.infer(pa.table({"tensor": _fixed(x)}))

    result = asyncio.run(cell())
    got = np.array(result.column("out.probability").to_pylist(), dtype=np.float32)
    assert np.abs(got - reference).max() < 1e-6


def test_arrow_chain_equals_onnxruntime_with_contract_types(fraud_chain) -> None:
    pipeline, x, reference = fraud_chain
    result = pipeline.infer(pa.table({"tensor": _fixed(x)}))
    assert isinstance(result, pa.Table)
    assert result.schema.names == ["time", "in.tensor", "out.probability", "anomaly.count"]
    assert result.schema.field("time").type == pa.timestamp("ms")
    assert result.schema.field("in.tensor").type == pa.list_(pa.float32())
    out = result.schema.field("out.probability")
    assert out.type == pa.list_(pa.field("inner", pa.float32(), nullable=False))
    assert not out.nullable
    assert result.schema.field("anomaly.count").type == pa.uint32()
    got = result.column("out.probability").combine_chunks().flatten().to_numpy().reshape(ROWS, 1)
    assert np.abs(got - reference).max() < 1e-6
    assert result.column("anomaly.count").to_pylist() == [0] * ROWS


def test_ray_handle_answers_the_flat_table(fraud_chain) -> None:
    from ray import serve

    pipeline, x, reference = fraud_chain
    handle = serve.get_app_handle(pipeline.app_name())
    result = handle.infer.remote(pa.table({"tensor": _fixed(x[:100])})).result(timeout_s=30)
    assert result.schema.names == ["time", "in.tensor", "out.probability", "anomaly.count"]
    got = result.column("out.probability").combine_chunks().flatten().to_numpy()
    np.testing.assert_allclose(got, reference[:100, 0], atol=1e-6)


def test_metadata_when_asked(fraud_chain) -> None:
    pipeline, x, _ = fraud_chain
    result = pipeline.infer(pa.table({"tensor": _fixed(x[:3])}), dataset=["time", "out", "metadata"])
    assert result.schema.names == [
        "time", "out.probability", "metadata.last_model", "metadata.pipeline_version",
        "metadata.elapsed", "metadata.dropped", "metadata.partition",
    ]
    row = result.slice(0, 1).to_pylist()[0]
    assert '"model_name":"calib"' in row["metadata.last_model"]
    assert row["metadata.pipeline_version"] == pipeline.versions()[0].name()
    assert len(row["metadata.elapsed"]) == 3  # input handling + two steps
    assert row["metadata.dropped"] == []
    assert row["metadata.partition"].startswith(f"{pipeline.app_name()}#")


def test_multi_input_multi_output_model(client, tmp_path: Path) -> None:
    path = multi_io(tmp_path / "multi.onnx")
    model = client.upload_model("multi-io", path)
    pipeline = client.build_pipeline("multi").add_model_step(model).deploy()
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 10)).astype(np.float32)
    b = rng.normal(size=(50, 5)).astype(np.float32)
    result = pipeline.infer(pa.table({"input_1": _fixed(a), "input_2": _fixed(b)}))
    assert result.schema.names == [
        "time", "in.input_1", "in.input_2", "out.output_1", "out.output_2", "anomaly.count",
    ]
    expected = run_onnx(path, {"input_1": a, "input_2": b})
    for name, width in (("output_1", 3), ("output_2", 2)):
        column = result.column(f"out.{name}").combine_chunks()
        assert column.type.value_type == pa.float32()
        np.testing.assert_allclose(column.flatten().to_numpy().reshape(50, width), expected[name], atol=1e-6)


def test_float64_model_keeps_double_precision(client, tmp_path: Path) -> None:
    path = float64_linear(tmp_path / "linear64.onnx")
    model = client.upload_model("linear64", path)
    pipeline = client.build_pipeline("linear64").add_model_step(model).deploy()
    x = np.random.default_rng(2).normal(size=(20, 3))
    frame_result = pipeline.infer(pd.DataFrame({"double_input": list(x)}))
    table_result = pipeline.infer(pa.table({"double_input": _fixed(x)}))
    expected = run_onnx(path, {"double_input": x})["variable"]
    column = table_result.column("out.variable").combine_chunks()
    assert column.type.value_type == pa.float64()
    np.testing.assert_array_equal(column.flatten().to_numpy().reshape(20, 1), expected)
    np.testing.assert_array_equal(np.array(frame_result["out.variable"].tolist()), expected)


def test_dynamic_batching_keeps_each_request_its_own_rows(client, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from joey import DynamicBatchingConfig

    path = mlp(tmp_path / "batched.onnx")
    model = client.upload_model("batched", path).configure(
        tensor_fields=["tensor"],
        dynamic_batching_config=DynamicBatchingConfig(max_batch_delay_ms=20, batch_size_target=16),
    )
    assert model.config().dynamic_batching_config()["batch_size_target"] == 16
    pipeline = client.build_pipeline("batched").add_model_step(model).deploy()
    x = np.random.default_rng(9).normal(size=(48, 29)).astype(np.float32)
    sizes = [1, 2, 3] * 8  # 24 concurrent requests of different sizes, 48 rows in all
    starts = np.cumsum([0, *sizes[:-1]])
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(
            lambda s: pipeline.infer(pa.table({"tensor": _fixed(x[s[0]:s[0] + s[1]])})),
            zip(starts, sizes, strict=True),
        ))
    expected = run_onnx(path, {"dense_input": x})["dense_1"]
    for start, size, result in zip(starts, sizes, results, strict=True):
        assert result.num_rows == size
        got = result.column("out.dense_1").combine_chunks().flatten().to_numpy().reshape(size, 1)
        np.testing.assert_allclose(got, expected[start:start + size], atol=1e-6)


BATCH_SIZE_SEEN = """
import numpy as np


def process_data(input_data):
    rows = len(input_data["x"])
    return {"seen": np.full(rows, rows, dtype=np.int64)}
"""


def test_dynamic_batching_merges_concurrent_requests(client, tmp_path: Path) -> None:
    """A step that reports how many rows it was called with: with batching, concurrent
    single-row requests reach it together, and each still gets back only its own row."""
    from concurrent.futures import ThreadPoolExecutor

    import joey
    from joey import DynamicBatchingConfig
    from joey.testing.code_models import python_step

    model = client.upload_model(
        "batch-size-seen", python_step(tmp_path / "seen.zip", BATCH_SIZE_SEEN),
        framework=joey.Framework.PYTHON,
        input_schema=pa.schema([pa.field("x", pa.float32())]),
        output_schema=pa.schema([pa.field("seen", pa.int64())]),
    ).configure(dynamic_batching_config=DynamicBatchingConfig(max_batch_delay_ms=300, batch_size_target=8))
    pipeline = client.build_pipeline("batch-size-seen").add_model_step(model).deploy()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: pipeline.infer(pa.table({"x": pa.array([float(i)], pa.float32())})),
                                range(16)))
    assert all(r.num_rows == 1 for r in results)
    assert [r.column("in.x")[0].as_py() for r in results] == [float(i) for i in range(16)]
    seen = [r.column("out.seen")[0].as_py() for r in results]
    assert max(seen) > 1, f"every request ran alone: {seen}"
    assert max(seen) <= 8


def test_fused_chain_runs_in_the_ingress_and_answers_the_same(client, tmp_path: Path) -> None:
    from ray import serve

    from joey import DeploymentConfigBuilder

    first = mlp(tmp_path / "f1.onnx", n_in=29, n_out=29, output_name="o1", seed=21)
    second = mlp(tmp_path / "f2.onnx", n_in=29, n_out=1, input_name="i2", output_name="score", seed=22)
    m1 = client.upload_model("fused-a", first).configure(tensor_fields=["tensor"])
    m2 = client.upload_model("fused-b", second).configure(tensor_fields=["o1"])
    config = DeploymentConfigBuilder().fuse_steps().build()
    pipeline = client.build_pipeline("fused").add_model_step(m1).add_model_step(m2)
    pipeline.deploy(deployment_config=config)
    assert list(serve.status().applications[pipeline.app_name()].deployments) == ["ingress"]
    x = np.random.default_rng(23).normal(size=(100, 29)).astype(np.float32)
    result = pipeline.infer(pa.table({"tensor": _fixed(x)}), dataset=["out", "metadata"])
    expected = run_onnx(second, {"i2": run_onnx(first, {"dense_input": x})["o1"]})["score"]
    got = result.column("out.score").combine_chunks().flatten().to_numpy().reshape(100, 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert len(result.column("metadata.elapsed")[0].as_py()) == 3
