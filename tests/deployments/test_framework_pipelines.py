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


@pytest.mark.parametrize(("convertible", "runtime"), [(True, "onnx"), (False, "tensorflow")])
def test_tensorflow_savedmodel_pipeline(client, tmp_path: Path, convertible: bool, runtime: str) -> None:
    trained = fm.tensorflow_savedmodel(tmp_path, convertible)
    model = client.upload_model("tf-scorer", trained.path, framework="tensorflow")
    assert model.config().runtime() == runtime
    assert model.config().conversion()["kept"] is convertible
    pipeline = client.build_pipeline("tf-pipe").add_model_step(model).deploy()
    result = pipeline.infer(_table(trained.x))
    assert result.schema.names == ["time", "in.text_input", "out.alpha", "out.main", "out.zeta", "anomaly.count"]
    for name, expected in trained.expected.items():
        np.testing.assert_allclose(_column(result, name, 20), expected, atol=1e-5)


OPTIONAL_SOURCE = '''
import numpy as np
from mac.inference import Inference
from mac.inference.creation import InferenceBuilder


class OptionalInference(Inference):
    @property
    def expected_model_types(self):
        return {str}

    def _predict(self, input_data):
        x = input_data["x"]
        tags = input_data["tags"]
        rows = len(x)
        if rows == 3:
            return {"filled": np.zeros(2), "tag_count": np.zeros(2, dtype=np.int64)}  # wrong row count
        if rows == 4:
            return {"filled": np.zeros(4)}  # a missing output
        filled = np.where(np.isnan(x.astype(float)), -1.0, x.astype(float))
        counts = np.array([sum(v is not None for v in list(t)) for t in tags], dtype=np.int64)
        return {"filled": filled, "tag_count": counts}


class OptionalBuilder(InferenceBuilder):
    @property
    def inference(self):
        return OptionalInference()

    def create(self, config):
        inference = self.inference
        inference.model = "optional"
        return inference
'''


@pytest.fixture
def optional_pipeline(client, tmp_path: Path):
    import joey
    from joey.testing.code_models import byop_zip

    model = client.upload_model(
        "optional", byop_zip(tmp_path / "optional.zip", source=OPTIONAL_SOURCE), framework=joey.Framework.CUSTOM,
        input_schema=pa.schema([pa.field("x", pa.float64()), pa.field("tags", pa.list_(pa.string())),
                                pa.field("required", pa.int64(), nullable=False)]),
        output_schema=pa.schema([pa.field("filled", pa.float64()), pa.field("tag_count", pa.int64())]),
    )
    return client.build_pipeline("optional").add_model_step(model).deploy()


def test_byop_optional_inputs_reach_the_code_as_nulls(optional_pipeline) -> None:
    import httpx

    rows = [
        {"x": 1.5, "tags": ["a", "b"], "required": 1},
        {"x": None, "tags": [], "required": 2},
        {"x": 2.0, "tags": [None], "required": 3},
        {"x": None, "tags": ["c"], "required": 4},
        {"x": 3.0, "tags": ["d", None, "e"], "required": 5},
    ]
    answer = httpx.post(optional_pipeline.url(), json=rows, params={"dataset.separator": "."}, timeout=30,
                        headers={"Content-Type": "application/json; format=pandas-records"})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert isinstance(got, list), answer.text[:500]
    assert [r["out.filled"] for r in got] == [1.5, -1.0, 2.0, -1.0, 3.0]
    assert [r["out.tag_count"] for r in got] == [2, 0, 0, 1, 2]
    assert [r["in.x"] for r in got] == [1.5, None, 2.0, None, 3.0]  # in.* echoes what was sent
    # an all-null column takes its type from the schema
    all_null = httpx.post(optional_pipeline.url(), json=[{"x": None, "tags": [], "required": 1}] * 2,
                          params={"dataset.separator": "."}, timeout=30,
                          headers={"Content-Type": "application/json; format=pandas-records"})
    assert all_null.status_code == 200, all_null.text
    assert [r["out.filled"] for r in all_null.json()] == [-1.0, -1.0]
    # a field the schema marks nullable=False still refuses nulls
    refused = httpx.post(optional_pipeline.url(), json=[{"x": 1.0, "tags": [], "required": None}], timeout=30,
                         headers={"Content-Type": "application/json; format=pandas-records"})
    assert refused.status_code == 400
    assert "required" in refused.json()["error"]


def test_byop_wrong_rows_or_missing_output_is_a_500_naming_the_field(optional_pipeline) -> None:
    from joey.errors import ModelError

    def table(n: int) -> pa.Table:
        return pa.table({"x": pa.array([1.0] * n), "tags": pa.array([["a"]] * n, pa.list_(pa.string())),
                         "required": pa.array([1] * n)})

    with pytest.raises(ModelError, match="'filled' has 2 rows for 3 input rows"):
        optional_pipeline.infer(table(3))
    with pytest.raises(ModelError, match="tag_count"):
        optional_pipeline.infer(table(4))
    assert optional_pipeline.infer(table(2)).num_rows == 2
