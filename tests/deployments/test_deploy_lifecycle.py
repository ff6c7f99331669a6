"""Deploy, hot swap, undeploy and failed deploys, on a real local Ray and Serve."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from ray import serve
from support.sdk_modes import client_in_both_modes
from support.waiting import wait_until

from joey.errors import DeploymentError, PipelineConfigError, PipelineNotDeployedError
from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray

client = client_in_both_modes()


def _table(x: np.ndarray) -> pa.Table:
    return pa.table({"tensor": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])})


def _scores(result: pa.Table, name: str) -> np.ndarray:
    return result.column(f"out.{name}").combine_chunks().flatten().to_numpy()


def test_redeploy_with_a_replaced_step_serves_the_new_model(client, tmp_path: Path) -> None:
    old_file = mlp(tmp_path / "old.onnx", seed=1)
    new_file = mlp(tmp_path / "new.onnx", seed=2, output_name="new_score")
    old = client.upload_model("old", old_file).configure(tensor_fields=["tensor"])
    new = client.upload_model("new", new_file).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("swap").add_model_step(old).deploy()
    x = np.random.default_rng(3).normal(size=(8, 29)).astype(np.float32)
    np.testing.assert_allclose(_scores(pipeline.infer(_table(x)), "dense_1"),
                               run_onnx(old_file, {"dense_input": x})["dense_1"][:, 0], atol=1e-6)
    pipeline.replace_with_model_step(0, new).deploy()
    result = pipeline.infer(_table(x))
    assert "out.new_score" in result.schema.names
    np.testing.assert_allclose(_scores(result, "new_score"),
                               run_onnx(new_file, {"dense_input": x})["new_score"][:, 0], atol=1e-6)
    assert len(pipeline.versions()) == 2
    status = pipeline.status()
    assert status["status"] == "Running"
    # the one model runs in the ingress's replicas (fast by default): no step deployment
    assert {d["name"] for d in status["deployments"]} == {"ingress"}
    assert [m["name"] for e in status["engines"] for m in e["model_statuses"]["models"]] == ["new"]


def test_undeploy_removes_the_application(client, tmp_path: Path) -> None:
    model = client.upload_model("gone", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("gone").add_model_step(model).deploy()
    assert pipeline.app_name() in serve.status().applications
    status = pipeline.status()
    assert status["status"] == "Running"
    assert all(d["replicas"] == {"RUNNING": 1} for d in status["deployments"])
    assert pipeline.undeploy() is pipeline
    assert pipeline.app_name() not in serve.status().applications
    assert pipeline.status()["status"] == "Unavailable"
    with pytest.raises(PipelineNotDeployedError):
        pipeline.infer(_table(np.zeros((1, 29), np.float32)))


def test_deploy_without_waiting_reaches_running(client, tmp_path: Path) -> None:
    model = client.upload_model("later", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("later").add_model_step(model)
    pipeline.deploy(wait_for_status=False)
    assert pipeline.status()["status"] in {"Starting", "Running"}
    wait_until(lambda: pipeline.status()["status"] == "Running", timeout=60)
    assert pipeline.infer(_table(np.zeros((2, 29), np.float32))).num_rows == 2


def test_a_replica_that_cannot_load_fails_the_deploy_with_its_error(client, tmp_path: Path) -> None:
    model = client.upload_model("broken", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    if not hasattr(client, "settings"):
        pytest.skip("removes the embedded store's artifacts (the remote client cannot reach the service's)")
    shutil.rmtree(client.settings.resolved_artifacts_uri)  # the artifact vanishes before deploy
    with pytest.raises(DeploymentError) as caught:
        client.build_pipeline("broken").add_model_step(model).deploy()
    assert "broken" in str(caught.value)
    assert "FileNotFoundError" in str(caught.value) or "No such file" in str(caught.value)
    assert client.get_pipeline("broken").status()["status"] == "Error"


def test_pipelines_that_cannot_chain_are_refused_before_deploying(client, tmp_path: Path) -> None:
    first = client.upload_model("first", mlp(tmp_path / "a.onnx")).configure(tensor_fields=["tensor"])
    second = client.upload_model("second", mlp(tmp_path / "b.onnx", n_in=1, input_name="wants_this"))
    with pytest.raises(PipelineConfigError, match="wants_this"):
        client.build_pipeline("unchained").add_model_step(first).add_model_step(second).deploy()
    with pytest.raises(PipelineConfigError, match="no steps"):
        client.build_pipeline("empty").deploy()
    assert serve.status().applications == {}


def test_a_pipeline_undeployed_elsewhere_says_so(client, tmp_path: Path) -> None:
    model = client.upload_model("elsewhere", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("elsewhere").add_model_step(model).deploy()
    table = _table(np.zeros((1, 29), np.float32))
    assert pipeline.infer(table).num_rows == 1  # the handle is now cached
    client.get_pipeline("elsewhere").undeploy()
    with pytest.raises(PipelineNotDeployedError):
        pipeline.infer(table)
