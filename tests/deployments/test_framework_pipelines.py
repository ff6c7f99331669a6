"""Upload, deploy and infer models of every converting framework, next to ONNX steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from joey.errors import ModelUploadError
from joey.testing import framework_models as fm

pytestmark = pytest.mark.ray


def _table(data: dict[str, np.ndarray]) -> pa.Table:
    return pa.table({
        name: pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
        for name, values in data.items()
    })


def _column(result: pa.Table, name: str, rows: int) -> np.ndarray:
    column = result.column(f"out.{name}").combine_chunks()
    if pa.types.is_list(column.type):
        return column.flatten().to_numpy().reshape(rows, -1)
    return column.to_numpy()


@pytest.mark.parametrize(
    ("factory", "runtime", "tolerance"),
    [
        (fm.sklearn_logreg, "onnx", 1e-6),
        (fm.sklearn_unconvertible, "flight", 1e-9),
        (fm.xgboost_classifier, "onnx", 1e-6),
        (fm.xgboost_booster, "onnx", 1e-5),
        (fm.torchscript_multi_io, "onnx", 1e-5),
        (lambda d: fm.torchscript_single_io(d, "float64"), "flight", 1e-9),
        (fm.keras_sequential, "onnx", 1e-6),
    ],
    ids=["sklearn-onnx", "sklearn-flight", "xgboost-onnx", "booster-onnx", "pytorch-onnx",
         "pytorch-flight", "keras-onnx"],
)
def test_framework_model_serves_its_own_predictions(client, tmp_path: Path, factory, runtime, tolerance) -> None:
    trained = factory(tmp_path)
    model = client.upload_model("fw-model", trained.path, framework=trained.framework,
                                input_schema=trained.input_schema, output_schema=trained.output_schema)
    assert model.config().runtime() == runtime
    conversion = model.config().conversion()
    assert conversion["kept"] is (runtime == "onnx")
    assert "'conversion'" in repr(model)
    pipeline = client.build_pipeline("fw-pipe").add_model_step(model).deploy()
    rows = len(next(iter(trained.x.values())))
    result = pipeline.infer(_table(trained.x))
    assert result.schema.names[-1] == "anomaly.count"
    for field in trained.output_schema:
        got = _column(result, field.name, rows)
        expected = np.asarray(trained.expected[field.name]).reshape(got.shape)
        assert result.schema.field(f"out.{field.name}").type.equals(
            field.type if not pa.types.is_fixed_size_list(field.type)
            else pa.list_(pa.field("inner", field.type.value_type, nullable=False))
        )
        np.testing.assert_allclose(got, expected, atol=tolerance)


def test_non_onnx_upload_needs_both_schemas(client, tmp_path: Path) -> None:
    trained = fm.sklearn_logreg(tmp_path)
    with pytest.raises(ModelUploadError, match="input_schema and output_schema"):
        client.upload_model("no-schema", trained.path, framework="sklearn")


def test_python_step_onnx_byop_chain_equals_the_three_functions_by_hand(client, tmp_path: Path) -> None:
    import joey
    from joey.testing.code_models import (
        BYOP_OUTPUT_SCHEMA,
        PYTHON_STEP_INPUT,
        PYTHON_STEP_OUTPUT,
        byop_zip,
        python_step,
    )
    from joey.testing.onnx_models import mlp, run_onnx

    pre = client.upload_model("pre", python_step(tmp_path / "pre.zip"), framework=joey.Framework.PYTHON,
                              input_schema=PYTHON_STEP_INPUT, output_schema=PYTHON_STEP_OUTPUT)
    assert pre.config().runtime() == "python"
    onnx_path = mlp(tmp_path / "m.onnx", seed=31)
    scorer = client.upload_model("scorer", onnx_path).configure(tensor_fields=["tensor"])
    post = client.upload_model(
        "post", byop_zip(tmp_path / "post.zip", scale=100.0), framework=joey.Framework.CUSTOM,
        input_schema=pa.schema([pa.field("dense_1", pa.list_(pa.float32(), 1))]),
        output_schema=BYOP_OUTPUT_SCHEMA,
    )
    assert post.config().runtime() == "flight"
    pipeline = client.build_pipeline("three").add_model_step(pre).add_model_step(scorer).add_model_step(post)
    pipeline.deploy()
    raw = np.random.default_rng(32).normal(size=(25, 29))
    result = pipeline.infer(_table({"raw": raw}))
    assert result.schema.names == ["time", "in.raw", "out.prediction", "anomaly.count"]
    by_hand = run_onnx(onnx_path, {"dense_input": np.tanh(raw.astype(np.float32))})["dense_1"][:, 0] * 100.0
    np.testing.assert_allclose(result.column("out.prediction").to_numpy(), by_hand.astype(np.float32), rtol=1e-6)


def test_tensorflow_savedmodel_pipeline(client, tmp_path: Path) -> None:
    trained = fm.tensorflow_savedmodel(tmp_path)
    model = client.upload_model("tf-scorer", trained.path, framework="tensorflow")
    assert model.config().runtime() == "tensorflow"
    pipeline = client.build_pipeline("tf-pipe").add_model_step(model).deploy()
    result = pipeline.infer(_table(trained.x))
    assert result.schema.names == ["time", "in.text_input", "out.alpha", "out.main", "out.zeta", "anomaly.count"]
    for name, expected in trained.expected.items():
        np.testing.assert_allclose(_column(result, name, 20), expected, atol=1e-6)
