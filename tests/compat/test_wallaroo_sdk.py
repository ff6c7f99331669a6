"""Wallaroo SDK calls that return data or take Wallaroo's arguments, on real Serve."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from joey import DeploymentConfigBuilder
from joey.engine_config import Acceleration, Architecture
from joey.errors import DeploymentError, ModelConfigError, ModelUploadError
from joey.framework import Framework
from joey.platform.compat import IgnoredArgumentWarning
from joey.testing import framework_models as fm
from joey.testing.code_models import BYOP_OUTPUT_SCHEMA, byop_zip
from joey.testing.onnx_models import mlp

pytestmark = pytest.mark.ray


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def test_arch_and_accel_are_what_upload_asked_for(client, tmp_path: Path) -> None:
    path = mlp(tmp_path / "m.onnx")
    plain = client.upload_model("plain", path)
    assert (plain.arch(), plain.accel()) == ("x86", "none")
    arm = client.upload_model("arm", path, arch=Architecture.ARM, accel=Acceleration.CUDA)
    assert (arm.arch(), arm.accel()) == ("arm", "cuda")
    assert "'arch': 'arm', 'accel': 'cuda'" in repr(arm)
    assert client.get_model("arm").accel() == "cuda"  # stored, not only on the returned object
    with pytest.raises(ModelUploadError, match="accel takes one of none, cuda"):
        client.upload_model("bad", path, accel="tpu")


@pytest.mark.parametrize(
    ("accel", "config", "message"),
    [
        (Acceleration.QAIC, None, "accel='qaic', which joey cannot serve; joey serves accel none, cuda"),
        (Acceleration.CUDA, None, "accel='cuda' but its step has no GPU"),
        (Acceleration.CUDA, DeploymentConfigBuilder().gpus(1).build(), "ask for GPUs .* the Ray cluster has none"),
    ],
    ids=["unservable", "cuda-without-gpu", "cuda-on-cpu-cluster"],
)
def test_an_accelerator_joey_cannot_serve_fails_the_deploy(client, tmp_path: Path, accel, config, message) -> None:
    model = client.upload_model("accel", mlp(tmp_path / "m.onnx"), accel=accel)
    pipeline = client.build_pipeline("accel-pipe").add_model_step(model)
    with pytest.raises(DeploymentError, match=message):
        pipeline.deploy(deployment_config=config)
    assert pipeline.status()["status"] == "Unavailable"


def test_configure_picks_any_runtime_that_can_run_the_model(client, tmp_path: Path) -> None:
    trained = fm.sklearn_logreg(tmp_path)
    model = client.upload_model("logreg", trained.path, framework=Framework.SKLEARN,
                                input_schema=trained.input_schema, output_schema=trained.output_schema)
    assert model.config().runtime() == "onnx"
    with pytest.raises(ModelConfigError, match="runtimes that can run it: flight, onnx"):
        model.configure("mlflow")
    model.configure(runtime="flight")
    assert client.get_model("logreg").config().runtime() == "flight"
    pipeline = client.build_pipeline("logreg-pipe").add_model_step(model).deploy()
    result = pipeline.infer(pa.table({"inputs": _fixed(trained.x["inputs"])}))
    np.testing.assert_array_equal(np.asarray(result.column("out.predictions").to_pylist()).reshape(-1),
                                  np.asarray(trained.expected["predictions"]).reshape(-1))
    (step,) = json.loads(client._context.store.active_deployment(pipeline.id()).spec_json)["steps"]
    assert step["model"]["runtime"] == "flight" and model.sha() in step["model"]["artifact_uri"]
    model.configure("onnx")  # and back
    assert client.get_model("logreg").config().runtime() == "onnx"


def test_configure_names_the_runtimes_of_an_unconverted_model(client, tmp_path: Path) -> None:
    trained = fm.sklearn_unconvertible(tmp_path)
    model = client.upload_model("custom-fn", trained.path, framework=Framework.SKLEARN,
                                input_schema=trained.input_schema, output_schema=trained.output_schema)
    with pytest.raises(ModelConfigError, match=r"cannot run on runtime 'onnx'; runtimes that can run it: flight$"):
        model.configure("onnx")


def test_configure_schemas(client, tmp_path: Path) -> None:
    onnx_model = client.upload_model("native", mlp(tmp_path / "m.onnx"))
    same = pa.schema([pa.field("dense_input", pa.list_(pa.float32(), 29))])
    onnx_model.configure(input_schema=same)  # the model's own names: accepted
    with pytest.raises(ModelConfigError, match="input_schema names \\['tensor'\\]"):
        onnx_model.configure(input_schema=pa.schema([pa.field("tensor", pa.list_(pa.float32(), 29))]))
    byop = client.upload_model("byop", byop_zip(tmp_path / "b.zip", input_name="x"), framework=Framework.CUSTOM,
                               input_schema=pa.schema([pa.field("x", pa.list_(pa.float32(), 2))]),
                               output_schema=BYOP_OUTPUT_SCHEMA)
    byop.configure(input_schema=pa.schema([pa.field("x", pa.list_(pa.float64(), 3))]))
    assert client.get_model("byop").config().input_schema().field("x").type == pa.list_(pa.float64(), 3)
    pipeline = client.build_pipeline("byop-pipe").add_model_step(byop).deploy()
    result = pipeline.infer(pa.table({"x": _fixed(np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))}))
    assert result.column("out.prediction").to_pylist() == [3.0, 6.0]


def test_wallaroo_arguments_joey_ignores_warn_once(client, tmp_path: Path) -> None:
    path = mlp(tmp_path / "m.onnx")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = client.upload_model("ccfraud", path, convert_wait=False)
        client.upload_model("ccfraud", path, convert_wait=False)
        pipeline = client.build_pipeline("named").add_model_step(model)
        pipeline.deploy(pipeline_name="some-deployment-name")
        pipeline.deploy(pipeline_name="some-deployment-name")
        model.configure(continuous_batching_config={"max_concurrent_batch_size": 8})
    messages = [str(w.message) for w in caught if w.category is IgnoredArgumentWarning]
    assert sum("convert_wait=" in m for m in messages) == 1
    assert sum("pipeline_name=" in m and "'default-named'" in m for m in messages) == 1
    assert sum("continuous_batching_config=" in m for m in messages) == 1


def test_list_calls_take_wallaroos_workspace_arguments(client, tmp_path: Path) -> None:
    other = client.create_workspace("other-ws")
    client.set_current_workspace(other)
    client.upload_model("there", mlp(tmp_path / "m.onnx"))
    client.build_pipeline("there-pipe")
    client.set_current_workspace(client.get_workspace("default", create_if_not_exist=True))
    assert client.list_models() == []
    assert [m.name() for m in client.list_models(workspace_id=other.id())] == ["there"]
    assert [p.name() for p in client.list_pipelines(workspace_id=other.id())] == ["there-pipe"]
    assert [p.name() for p in client.list_pipelines(workspace_name="other-ws")] == ["there-pipe"]
    workspaces = client.list_workspaces()
    assert {w.name() for w in workspaces} == {"default", "other-ws"}
    assert "<td>other-ws</td>" in workspaces._repr_html_()
