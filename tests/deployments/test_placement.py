"""Fast by default: where a deployed pipeline's models run, with what settings, and how large
batches travel to a step that runs apart (issue 11)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _chain(client: Any, tmp_path: Path, name: str) -> tuple[Any, Path, Path]:
    """A two-step native chain, 29 -> 29 -> 1 (the first output as wide as the input)."""
    first = mlp(tmp_path / f"{name}-1.onnx", n_in=29, n_out=29, output_name="o1", seed=31)
    second = mlp(tmp_path / f"{name}-2.onnx", n_in=29, n_out=1, input_name="i2", output_name="score", seed=32)
    m1 = client.upload_model(f"{name}-a", first).configure(tensor_fields=["tensor"])
    m2 = client.upload_model(f"{name}-b", second).configure(tensor_fields=["o1"])
    return client.build_pipeline(name).add_model_step(m1).add_model_step(m2), first, second


def _deployment_details(app: str) -> dict[str, Any]:
    """Serve's own record of each deployment of ``app`` (its options as deployed)."""
    from ray.serve.context import _get_global_client

    details = _get_global_client().get_serve_details()
    return details["applications"][app]["deployments"]


def test_a_native_chain_runs_in_the_ingress_by_default_and_status_says_so(client, tmp_path: Path) -> None:
    from ray import serve

    pipeline, first, second = _chain(client, tmp_path, "placed")
    pipeline.deploy()
    assert list(serve.status().applications["default-placed"].deployments) == ["ingress"]
    status = pipeline.status()
    assert [e["name"].split("-")[0] for e in status["engine_lbs"]] == ["ingress"]
    (engine,) = status["engines"]
    assert engine["name"] == status["engine_lbs"][0]["name"]  # one replica plays both roles
    assert [m["name"] for m in engine["model_statuses"]["models"]] == ["placed-a", "placed-b"]

    x = np.random.default_rng(33).normal(size=(50, 29)).astype(np.float32)
    result = pipeline.infer(pa.table({"tensor": _fixed(x)}))
    expected = run_onnx(second, {"i2": run_onnx(first, {"dense_input": x})["o1"]})["score"]
    got = result.column("out.score").combine_chunks().flatten().to_numpy().reshape(50, 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_fuse_steps_false_gives_each_model_a_deployment_and_status_lists_each(client, tmp_path: Path) -> None:
    from ray import serve

    from joey import DeploymentConfigBuilder

    pipeline, _, _ = _chain(client, tmp_path, "apart")
    pipeline.deploy(deployment_config=DeploymentConfigBuilder().fuse_steps(False).build())
    deployments = set(serve.status().applications["default-apart"].deployments)
    assert deployments == {"ingress", "step-0-apart-a", "step-1-apart-b"}
    status = pipeline.status()
    assert len(status["engine_lbs"]) == 1
    assert sorted(m["name"] for e in status["engines"] for m in e["model_statuses"]["models"]) == [
        "apart-a", "apart-b"]
    assert all(not e["name"].startswith("ingress") for e in status["engines"])


def test_replicas_run_with_serve_s_fast_settings_and_the_sdk_process_does_not(client, tmp_path: Path) -> None:
    from joey import DeploymentConfigBuilder

    pipeline, _, _ = _chain(client, tmp_path, "envs")
    pipeline.deploy(deployment_config=DeploymentConfigBuilder().fuse_steps(False).build())
    deployments = _deployment_details("default-envs")
    for name in ("ingress", "step-0-envs-a", "step-1-envs-b"):
        env = deployments[name]["deployment_config"]["ray_actor_options"]["runtime_env"]["env_vars"]
        assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1", name
    # a synchronous SDK call from a process without them works (a handle used outside an event
    # loop with the router-on-caller-loop setting raises "No event loop running")
    assert "RAY_SERVE_THROUGHPUT_OPTIMIZED" not in os.environ
    table = pa.table({"tensor": _fixed(np.ones((3, 29), np.float32))})
    assert pipeline.infer(table).num_rows == 3


def test_a_large_batch_reaches_a_step_apart_by_reference(client, tmp_path: Path) -> None:
    """50,000 rows x 29 float32 (5.8 MB) each way: over the replicas' direct gRPC (by value)
    Serve refuses messages over 4 MiB, so the ingress must send it through the object store."""
    from joey import DeploymentConfigBuilder

    pipeline, first, second = _chain(client, tmp_path, "big")
    pipeline.deploy(deployment_config=DeploymentConfigBuilder().fuse_steps(False).build())
    x = np.random.default_rng(34).normal(size=(50_000, 29)).astype(np.float32)
    answer = httpx.post(pipeline.url(), content=_arrow(pa.table({"tensor": _fixed(x)})),
                        headers={"Content-Type": "application/vnd.apache.arrow.file",
                                 "Accept": "application/vnd.apache.arrow.file"},
                        params={"dataset[]": "out", "dataset.separator": "."}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    result = pa.ipc.open_file(pa.py_buffer(answer.content)).read_all()
    expected = run_onnx(second, {"i2": run_onnx(first, {"dense_input": x})["o1"]})["score"]
    got = result.column("out.score").combine_chunks().flatten().to_numpy().reshape(-1, 1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_pipeline_url_answers_post_only_and_nothing_below_it(client, tmp_path: Path) -> None:
    """The ingress is a plain HTTP handler (no web framework's router): other methods and
    paths get the contract's JSON error body too."""
    pipeline, _, _ = _chain(client, tmp_path, "routes")
    pipeline.deploy()
    ok = httpx.post(pipeline.url() + "/", json=[{"tensor": [0.0] * 29}], timeout=30)
    assert ok.status_code == 200
    wrong_method = httpx.get(pipeline.url(), timeout=30)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["code"] == 405 and "GET" in wrong_method.json()["error"]
    below = httpx.post(pipeline.url() + "/docs", json=[], timeout=30)
    assert below.status_code == 404
    assert "/docs" in below.json()["error"]
