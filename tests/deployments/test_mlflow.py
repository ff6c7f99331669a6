"""MLflow models: a folder or a ``models:/`` URI, schemas from the signature, ONNX where the
flavor converts (proven), the pyfunc in an isolated environment otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import joey
from joey.config import Settings
from joey.errors import ModelUploadError
from joey.testing import mlflow_models as mm

pytestmark = pytest.mark.ray


def _iris_table() -> tuple[pa.Table, np.ndarray]:
    frame, _ = mm.iris_frame()
    sample = frame.iloc[::15].reset_index(drop=True)
    return pa.Table.from_pandas(sample, preserve_index=False), sample


def _pyfunc_predictions(folder: Path, frame) -> np.ndarray:
    import mlflow.pyfunc

    return np.asarray(mlflow.pyfunc.load_model(str(folder)).predict(frame))


def test_iris_folder_converts_to_onnx_and_its_pyfunc_runs_isolated(client, tmp_path: Path) -> None:
    folder = mm.sklearn_iris(tmp_path)
    model = client.upload_model("iris", folder, framework=joey.Framework.MLFLOW)
    assert model.config().input_schema().names == list(mm.IRIS_COLUMNS)  # from the signature
    assert model.config().runtime() == "onnx"  # the sklearn flavor converted, and was proven
    conversion = model.config().conversion()
    assert conversion["kept"] and conversion["inputs_compared"] > 0
    table, frame = _iris_table()
    expected = _pyfunc_predictions(folder, frame)
    pipeline = client.build_pipeline("iris-onnx").add_model_step(model).deploy()
    np.testing.assert_array_equal(pipeline.infer(table).column("out.predictions").to_numpy(), expected)
    pipeline.undeploy()

    pyfunc = model.configure("mlflow")  # the uploaded model itself, in its own environment
    assert pyfunc.config().runtime() == "mlflow"
    assert any(r.startswith("mlflow-skinny==") for r in pyfunc._row.config["requirements"])
    pipeline = client.build_pipeline("iris-pyfunc").add_model_step(pyfunc).deploy()
    np.testing.assert_array_equal(pipeline.infer(table).column("out.predictions").to_numpy(), expected)
    status = pipeline.status()
    pipeline.undeploy()
    assert status["status"] == "Running"


def test_a_custom_pyfunc_runs_with_its_own_pinned_requirements(client, tmp_path: Path) -> None:
    from importlib import metadata

    assert metadata.version("six") != "1.16.0", "the test needs the platform to carry another six"
    folder = mm.custom_pyfunc(tmp_path, pinned_six="1.16.0")
    model = client.upload_model("sum-and-scale", folder, framework="mlflow")
    assert model.config().runtime() == "mlflow"
    assert not model.config().conversion()["kept"]
    assert "six==1.16.0" in model._row.config["requirements"]
    pipeline = client.build_pipeline("sum-and-scale").add_model_step(model).deploy()
    frame = mm.custom_frame()
    result = pipeline.infer(pa.Table.from_pandas(frame, preserve_index=False))
    np.testing.assert_allclose(result.column("out.total").to_numpy(), frame["a"] + frame["b"])
    np.testing.assert_allclose(result.column("out.scaled").to_numpy(), frame["a"] * 10.0)
    pipeline.undeploy()


def test_a_registry_uri_is_copied_into_joeys_store(settings: Settings, tmp_path: Path) -> None:
    tracking_uri, uri = mm.registered(tmp_path / "registry")
    client = joey.Client(settings=settings.model_copy(update={"mlflow_tracking_uri": tracking_uri}))
    by_version = client.upload_model("iris-registered", uri, framework=joey.Framework.MLFLOW)
    by_alias = client.upload_model("iris-registered", f"models:/{mm.IRIS_MODEL}@{mm.IRIS_ALIAS}",
                                   framework=joey.Framework.MLFLOW)
    assert by_version.sha() == by_alias.sha()  # the same files, zipped the same way
    assert by_version.config().runtime() == "onnx"
    stored = by_version._row.config["source_uri"]  # the uploaded files, not MLflow's copy
    assert stored.startswith(settings.resolved_artifacts_uri) and client._context.artifacts.exists(stored)


def test_register_model_image_then_configure_mlflow(client, tmp_path: Path) -> None:
    folder = mm.sklearn_without_signature(tmp_path)
    schemas = {"input_schema": pa.schema([pa.field("inputs", pa.list_(pa.float64(), 4))]),
               "output_schema": pa.schema([pa.field("predictions", pa.int64())])}
    image = client.register_model_image("iris-image", str(folder))
    model = image.configure("mlflow", **schemas)
    assert model.framework() == "mlflow"
    assert model.config().input_schema().field("inputs").type == pa.list_(pa.float64(), 4)
    with pytest.raises(ModelUploadError, match="container image"):
        client.register_model_image("iris-docker", "ghcr.io/wallaroolabs/mlflow-statsmodels-example:2023.1")


def test_bad_mlflow_uploads_name_the_problem(settings: Settings, tmp_path: Path) -> None:
    client = joey.Client(settings=settings)
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    (empty / "README.md").write_text("no MLmodel here")
    with pytest.raises(ModelUploadError, match="MLmodel") as raised:
        client.upload_model("no-mlmodel", empty, framework="mlflow")
    assert "get_upload_logs" in str(raised.value)
    failed = client.get_model("no-mlmodel")
    assert failed.status() == "error"
    assert any("MLmodel" in line for line in failed.get_upload_logs())

    with pytest.raises(ModelUploadError, match="needs input_schema and output_schema"):
        client.upload_model("no-signature", mm.sklearn_without_signature(tmp_path), framework="mlflow")

    tracking_uri, _ = mm.registered(tmp_path / "registry")
    remote = joey.Client(settings=settings.model_copy(update={"mlflow_tracking_uri": tracking_uri}))
    with pytest.raises(ModelUploadError, match="models:/no-such-model/3"):
        remote.upload_model("missing", "models:/no-such-model/3", framework="mlflow")
    with pytest.raises(ModelUploadError, match="no registry is set"):
        client.upload_model("unset", "models:/iris-lr/1", framework="mlflow")
