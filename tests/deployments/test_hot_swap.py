"""Pipeline versions, rollback, hot swap without a failed request, live reconfiguration."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from support.sdk_modes import client_in_both_modes

from joey import DeploymentConfigBuilder
from joey.tables import ARROW_FILE, read_body, write_body
from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray

client = client_in_both_modes()


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


X = np.random.default_rng(9).normal(size=(2, 29)).astype(np.float32)


@pytest.fixture
def models(client, tmp_path: Path):
    found = {}
    for seed, name in enumerate(("model-a", "model-b", "model-c")):
        path = mlp(tmp_path / f"{name}.onnx", seed=seed)
        found[name] = (client.upload_model(name, path).configure(tensor_fields=["tensor"]),
                       run_onnx(path, {"dense_input": X})["dense_1"].reshape(-1))
    return found


def _answer(pipeline) -> np.ndarray:
    result = pipeline.infer(pa.table({"tensor": _fixed(X)}))
    return np.asarray(result.column("out.dense_1").to_pylist(), dtype=np.float32).reshape(-1)


def test_versions_newest_first_and_rollback(client, models) -> None:
    (a, a_out), (b, b_out) = models["model-a"], models["model-b"]
    pipeline = client.build_pipeline("rollback").add_model_step(a).deploy()
    first = pipeline.versions()[0]
    np.testing.assert_allclose(_answer(pipeline), a_out, rtol=1e-6)
    pipeline.replace_with_model_step(0, b).deploy()
    np.testing.assert_allclose(_answer(pipeline), b_out, rtol=1e-6)
    versions = pipeline.versions()
    assert [v.name() for v in versions][1:] == [first.name()] and len(versions) == 2
    old = client.get_pipeline("rollback", version=first.name())
    assert old.steps()[0]["ModelInference"]["models"][0]["name"] == "model-a"
    old.deploy()  # roll back: no new version, the old one runs again
    assert len(pipeline.versions()) == 2
    np.testing.assert_allclose(_answer(old), a_out, rtol=1e-6)


@pytest.mark.parametrize("fuse", [None, False], ids=["default", "separate"])
def test_hot_swap_fails_no_request(client, models, fuse: bool | None) -> None:
    """Default: the model runs in the ingress, so Serve rolls the ingress over; separate: the
    old step deployments stay until every old ingress replica is gone."""
    config = DeploymentConfigBuilder().fuse_steps(fuse).build()
    pipeline = client.build_pipeline("swap").add_model_step(models["model-a"][0]).deploy(deployment_config=config)
    body = write_body(pa.table({"tensor": _fixed(X)}), "arrow")[0]
    expected = {name: out for name, (_, out) in models.items()}
    stop = threading.Event()
    failures: list[str] = []
    answered: list[str] = []

    auth = client.auth.auth_header()  # remote mode: inference needs the caller's token

    def client_thread() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                response = http.post(pipeline.url(), content=body, headers={"Content-Type": ARROW_FILE, **auth})
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                out = np.asarray([r["dense_1"] for r in read_body(response.content, "arrow")
                                  .column("out").to_pylist()], dtype=np.float32).reshape(-1)
                name = next((n for n, e in expected.items() if np.allclose(out, e, rtol=1e-6)), None)
                (answered if name else failures).append(name or f"unknown answer {out}")

    threads = [threading.Thread(target=client_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for name in ("model-b", "model-c", "model-a"):
            time.sleep(0.5)
            pipeline.replace_with_model_step(0, models[name][0]).deploy(deployment_config=config)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert {"model-a", "model-b", "model-c"} <= set(answered)
    np.testing.assert_allclose(_answer(pipeline), expected["model-a"], rtol=1e-6)
    # the retired step deployments are gone once the swap is done
    deployments = {d["name"] for d in pipeline.status()["deployments"]}
    assert deployments == ({"ingress"} if fuse is None else {"ingress", "step-0-model-a"})


def test_changing_only_weights_or_validations_restarts_no_replica(client, models) -> None:
    import polars as pl

    (a, a_out), (b, b_out) = models["model-a"], models["model-b"]
    pipeline = client.build_pipeline("live").add_random_split([(1, a), (0, b)]).deploy()
    replicas = sorted(e["name"] for key in ("engines", "engine_lbs") for e in pipeline.status()[key])
    np.testing.assert_allclose(_answer(pipeline), a_out, rtol=1e-6)
    pipeline.replace_with_random_split(0, [(0, a), (1, b)]).deploy()
    np.testing.assert_allclose(_answer(pipeline), b_out, rtol=1e-6)
    pipeline.add_validations(always=pl.col("out.dense_1").list.get(0) > -1).deploy()
    result = pipeline.infer(pa.table({"tensor": _fixed(X)}))
    assert result.column("anomaly.always").to_pylist() == [True, True]
    after = sorted(e["name"] for key in ("engines", "engine_lbs") for e in pipeline.status()[key])
    assert after == replicas
