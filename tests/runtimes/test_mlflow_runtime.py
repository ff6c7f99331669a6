"""MLflow models without Ray: signature -> Arrow, relaxed requirements, the pyfunc runtime,
conversion of flavors to ONNX, and ``models:/`` URIs in a sqlite registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("mlflow")

import mlflow.pyfunc

from joey.runtimes.convert import conform
from joey.runtimes.mlflow import (
    MlflowRuntime,
    arrow_schemas_from_signature,
    model_requirements,
    relax_requirements,
    resolve_model_uri,
)
from joey.runtimes.mlflow_onnx import flavor_to_onnx
from joey.runtimes.schema import fields_from_schema
from joey.spec import TensorField
from joey.testing import mlflow_models as mm


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("mlflow-models")
    return {
        "iris": mm.sklearn_iris(tmp),
        "proba": mm.sklearn_tensor_proba(tmp),
        "unsigned": mm.sklearn_without_signature(tmp),
        "custom": mm.custom_pyfunc(tmp),
    }


def _runtime(folder: Path) -> MlflowRuntime:
    schemas = arrow_schemas_from_signature(folder)
    assert schemas is not None
    runtime = MlflowRuntime()
    runtime.load(folder, MlflowRuntime.parse_config({
        "inputs": [f.model_dump() for f in fields_from_schema(schemas[0])],
        "outputs": [f.model_dump() for f in fields_from_schema(schemas[1])],
    }))
    return runtime


def _iris_columns(rows: slice = slice(None)) -> dict[str, np.ndarray]:
    frame, _ = mm.iris_frame()
    return {name: frame[name].to_numpy()[rows] for name in mm.IRIS_COLUMNS}


# --- signature -> Arrow ---------------------------------------------------------------------


def test_iris_signature_is_four_required_doubles_and_int64_predictions(models):
    schemas = arrow_schemas_from_signature(models["iris"])
    assert schemas is not None
    inputs, outputs = schemas
    assert inputs == pa.schema([pa.field(n, pa.float64(), nullable=False) for n in mm.IRIS_COLUMNS])
    assert outputs == pa.schema([pa.field("predictions", pa.int64())])


def test_tensor_signature_is_fixed_size_lists_named_inputs_and_predictions(models):
    schemas = arrow_schemas_from_signature(models["proba"])
    assert schemas is not None
    inputs, outputs = schemas
    assert inputs == pa.schema([pa.field("inputs", pa.list_(pa.float32(), 4))])
    assert outputs.names == ["predictions"]
    assert outputs.field("predictions").type.list_size == 3


def test_named_tensors_keep_their_names_and_shapes():
    from mlflow.types.schema import Schema, TensorSpec

    from joey.runtimes.mlflow import mlflow_schema_to_arrow

    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 2, -1), "image"),
                     TensorSpec(np.dtype("int64"), (-1,), "count")])
    arrow = mlflow_schema_to_arrow(schema, "inputs")
    assert arrow.names == ["image", "count"]
    assert arrow.field("image").type == pa.list_(pa.list_(pa.float32()), 2)
    assert arrow.field("count").type == pa.int64()


def test_no_signature_means_no_schemas(models):
    assert arrow_schemas_from_signature(models["unsigned"]) is None


# --- requirements -------------------------------------------------------------------------


def test_relax_requirements():
    lines = [
        "# written by mlflow", "", "-r other.txt", "-c constraints.txt", "--index-url https://x",
        "mlflow==3.1.0", "torch==2.13.0+cpu", "numpy==1.26.4", "pandas>=2,<3  # comment",
        "scikit-learn==1.9.1", "tqdm==4.70.1+local.build", "six==1.16.0",
        "mlflow-skinny", "Scikit_Learn==1.0",
    ]
    assert relax_requirements(lines, ["numpy", "pandas"], "3.17.2") == [
        "mlflow-skinny==3.17.2", "torch==2.13.0", "numpy", "pandas", "scikit-learn==1.9.1",
        "tqdm==4.70.1", "six==1.16.0",
    ]


def test_torch_without_pin_is_pinned_and_markers_survive():
    assert relax_requirements(["torch", "mlflow", 'numpy==2.0; python_version >= "3.9"'],
                              [], "3.17.2") == [
        "torch==2.13.0", "mlflow-skinny==3.17.2", 'numpy==2.0; python_version >= "3.9"']


def test_model_requirements_reads_the_saved_file(models):
    reqs = model_requirements(models["custom"], base_packages=["pandas", "numpy"])
    assert "six==1.16.0" in reqs
    assert "pandas" in reqs and "numpy" in reqs
    assert any(r.startswith("mlflow-skinny==") for r in reqs)
    assert not any(r.split("==")[0] == "mlflow" for r in reqs)


# --- the runtime --------------------------------------------------------------------------


def test_runtime_equals_the_pyfunc_on_iris(models):
    runtime = _runtime(models["iris"])
    frame, _ = mm.iris_frame()
    expected = mlflow.pyfunc.load_model(str(models["iris"])).predict(frame)
    got = runtime.predict(_iris_columns())
    assert list(got) == ["predictions"]
    assert got["predictions"].dtype == np.int64
    np.testing.assert_array_equal(got["predictions"], expected)
    assert set(np.unique(got["predictions"])) == {0, 1, 2}


def test_runtime_passes_a_tensor_and_keeps_2d_probabilities(models):
    runtime = _runtime(models["proba"])
    frame, _ = mm.iris_frame()
    features = frame.to_numpy(dtype=np.float32)[:10]
    got = runtime.predict({"inputs": features})["predictions"]
    assert got.shape == (10, 3)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(got, mlflow.pyfunc.load_model(str(models["proba"])).predict(features))


def test_custom_pyfunc_returns_both_named_columns(models):
    runtime = _runtime(models["custom"])
    frame = mm.custom_frame()
    got = runtime.predict({"a": frame["a"].to_numpy(), "b": frame["b"].to_numpy()})
    assert sorted(got) == ["scaled", "total"]
    np.testing.assert_allclose(got["total"], frame["a"] + frame["b"])
    np.testing.assert_allclose(got["scaled"], frame["a"] * 10.0)


def test_a_missing_output_column_is_named(models):
    runtime = MlflowRuntime()
    runtime.load(models["custom"], MlflowRuntime.parse_config({
        "inputs": [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "int64"}],
        "outputs": [{"name": "total", "dtype": "float64"}, {"name": "ratio", "dtype": "float64"}],
    }))
    frame = mm.custom_frame()
    with pytest.raises(ValueError, match="'ratio'"):
        runtime.predict({"a": frame["a"].to_numpy(), "b": frame["b"].to_numpy()})


def test_unsigned_model_runs_with_user_schemas(models):
    runtime = MlflowRuntime()
    runtime.load(models["unsigned"], MlflowRuntime.parse_config({
        "inputs": [{"name": "inputs", "dtype": "float64", "shape": [4]}],
        "outputs": [{"name": "predictions", "dtype": "int32"}],
    }))
    frame, labels = mm.iris_frame()
    got = runtime.predict({"inputs": frame.to_numpy()})["predictions"]
    assert got.dtype == np.int32
    assert (got == labels).mean() > 0.9


def test_zip_of_the_model_folder_loads(models, tmp_path):
    import shutil

    archive = Path(shutil.make_archive(str(tmp_path / "iris"), "zip", models["iris"].parent,
                                       models["iris"].name))
    runtime = _runtime(archive)
    assert runtime.predict(_iris_columns(slice(0, 3)))["predictions"].tolist() == [0, 0, 0]


# --- conversion to ONNX -------------------------------------------------------------------


def test_iris_converts_to_onnx_taking_four_separate_columns(models):
    import onnx
    import onnxruntime as ort

    schemas = arrow_schemas_from_signature(models["iris"])
    assert schemas is not None
    inputs, outputs = fields_from_schema(schemas[0]), fields_from_schema(schemas[1])
    tried, proto = flavor_to_onnx(models["iris"], inputs)
    assert tried == "skl2onnx"
    onnx.checker.check_model(proto)
    proto = conform(proto, inputs, outputs)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(mm.IRIS_COLUMNS)
    columns = _iris_columns()
    (got,) = session.run(["predictions"], columns)
    frame, _ = mm.iris_frame()
    expected = mlflow.pyfunc.load_model(str(models["iris"])).predict(frame)
    np.testing.assert_array_equal(got, expected)


def test_tensor_model_converts_to_onnx(models):
    import onnxruntime as ort

    schemas = arrow_schemas_from_signature(models["proba"])
    assert schemas is not None
    inputs, outputs = fields_from_schema(schemas[0]), fields_from_schema(schemas[1])
    _, proto = flavor_to_onnx(models["proba"], inputs)
    proto = conform(proto, inputs, outputs)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    frame, _ = mm.iris_frame()
    features = frame.to_numpy(dtype=np.float32)
    (got,) = session.run(["predictions"], {"inputs": features})
    expected = mlflow.pyfunc.load_model(str(models["proba"])).predict(features)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_custom_pyfunc_does_not_convert(models):
    inputs = (TensorField(name="a", dtype="float64"), TensorField(name="b", dtype="int64"))
    with pytest.raises(ValueError, match="no ONNX converter"):
        flavor_to_onnx(models["custom"], inputs)


# --- models:/ URIs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return mm.registered(tmp_path_factory.mktemp("mlflow-registry"))


@pytest.mark.parametrize("uri", ["models:/iris-lr/1", "models:/iris-lr@champion"])
def test_registry_uris_resolve_to_a_model_folder(registry, uri, tmp_path):
    tracking_uri, version_uri = registry
    assert version_uri == "models:/iris-lr/1"
    folder = resolve_model_uri(uri, tracking_uri, destination=tmp_path / "copy")
    assert (folder / "MLmodel").is_file()
    assert folder.is_relative_to(tmp_path / "copy")  # joey's own copy, not the registry's
    schemas = arrow_schemas_from_signature(folder)
    assert schemas is not None and schemas[0].names == list(mm.IRIS_COLUMNS)
    got = _runtime(folder).predict(_iris_columns(slice(0, 5)))["predictions"]
    assert got.tolist() == [0, 0, 0, 0, 0]


def test_registry_does_not_leak_the_tracking_uri(registry):
    assert mlflow.get_tracking_uri() != registry[0]


def test_unknown_registry_model_names_uri_and_tracking_uri(registry):
    tracking_uri, _ = registry
    with pytest.raises(ValueError, match="models:/nope@champion") as caught:
        resolve_model_uri("models:/nope@champion", tracking_uri)
    assert tracking_uri in str(caught.value)


def test_plain_folder_resolves_to_itself_and_a_missing_one_is_refused(models, tmp_path):
    assert resolve_model_uri(str(models["iris"]), None) == models["iris"]
    with pytest.raises(ValueError, match="no such file"):
        resolve_model_uri(str(tmp_path / "absent"), None)


# --- other flavors, and the hooks the framework record calls -------------------------------


@pytest.fixture(scope="module")
def more_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("mlflow-flavors")
    return {"xgboost": mm.xgboost_iris(tmp), "pytorch": mm.pytorch_tensor(tmp),
            "pytorch-pickle": mm.pytorch_tensor(tmp, "pickle")}


def _onnx_answer(folder: Path, data: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    schemas = arrow_schemas_from_signature(folder)
    assert schemas is not None
    inputs, outputs = fields_from_schema(schemas[0]), fields_from_schema(schemas[1])
    _, proto = flavor_to_onnx(folder, inputs)
    proto = conform(proto, inputs, outputs)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["predictions"], data)[0]


def test_xgboost_flavor_converts_with_separate_double_columns(more_models):
    folder = more_models["xgboost"]
    frame, _ = mm.iris_frame()
    expected = mlflow.pyfunc.load_model(str(folder)).predict(frame)
    np.testing.assert_array_equal(_runtime(folder).predict(_iris_columns())["predictions"], expected)
    np.testing.assert_array_equal(_onnx_answer(folder, _iris_columns()), expected)


@pytest.mark.parametrize("kind", ["pytorch", "pytorch-pickle"])
def test_pytorch_flavor_runs_and_converts(more_models, kind):
    folder = more_models[kind]
    features = mm.iris_frame()[0].to_numpy(dtype=np.float32)
    expected = mlflow.pyfunc.load_model(str(folder)).predict(features)
    got = _runtime(folder).predict({"inputs": features})["predictions"]
    assert got.shape == (150, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(_onnx_answer(folder, {"inputs": features}), expected,
                               rtol=1e-4, atol=1e-5)


def test_pytorch_requirements_drop_the_local_torch_tag(more_models):
    saved = (more_models["pytorch"] / "requirements.txt").read_text()
    assert "+cpu" in saved  # what mlflow wrote
    reqs = model_requirements(more_models["pytorch"], base_packages=["numpy"])
    assert "torch==2.13.0" in reqs and "numpy" in reqs
    assert not any("+" in r for r in reqs)


def test_requirements_hook_always_gives_an_isolated_environment_with_mlflow_skinny(models):
    from joey.runtimes.mlflow import installed_mlflow_version, requirements_of

    skinny = f"mlflow-skinny=={installed_mlflow_version()}"
    iris = requirements_of(models["iris"], "mlflow")
    assert skinny in iris and not any(r.split("==")[0] == "mlflow" for r in iris)
    isolated = requirements_of(models["custom"], "mlflow")
    assert "six==1.16.0" in isolated and skinny in isolated


def test_try_convert_keeps_the_proven_iris_conversion(models, tmp_path):
    from joey.runtimes.convert import try_convert

    runtime = _runtime(models["iris"])
    inputs, outputs = runtime.signature()
    record = try_convert("mlflow", models["iris"], runtime, inputs, outputs, tmp_path / "iris.onnx")
    assert record.kept, record.detail
    assert (tmp_path / "iris.onnx").is_file()


def test_try_convert_records_a_custom_pyfunc_as_not_converted(models, tmp_path):
    from joey.runtimes.convert import try_convert

    runtime = _runtime(models["custom"])
    inputs, outputs = runtime.signature()
    record = try_convert("mlflow", models["custom"], runtime, inputs, outputs, tmp_path / "c.onnx")
    assert not record.kept and "no ONNX converter" in record.detail
    assert not (tmp_path / "c.onnx").exists()
