"""BYOP zips and Python steps: Wallaroo's ``mac`` code runs unchanged; broken rules are named."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from joey.config import Settings
from joey.errors import ModelUploadError
from joey.runtimes import byop, runtime_class
from joey.testing.code_models import (
    BYOP_OUTPUT_SCHEMA,
    BYOP_SOURCE,
    PYTHON_STEP_INPUT,
    PYTHON_STEP_OUTPUT,
    byop_zip,
    python_step,
)

SCHEMA_CONFIG = {
    "inputs": [{"name": "dense_1", "dtype": "float32", "shape": [1]}],
    "outputs": [{"name": "prediction", "dtype": "float32", "shape": []}],
}


def test_byop_written_for_wallaroo_runs_unchanged(tmp_path: Path) -> None:
    cls = runtime_class("flight-custom")
    runtime = cls()
    runtime.load(byop_zip(tmp_path / "m.zip", scale=2.5), cls.parse_config(SCHEMA_CONFIG))
    got = runtime.predict({"dense_1": np.array([[1.0], [4.0]], np.float32)})
    np.testing.assert_array_equal(got["prediction"], np.array([2.5, 10.0], np.float32))
    assert sys.modules["mac.inference"].Inference is byop.Inference  # the installed mac package


def test_python_step_runs_process_data(tmp_path: Path) -> None:
    cls = runtime_class("python")
    runtime = cls()
    runtime.load(python_step(tmp_path / "s.zip"), cls.parse_config({
        "inputs": [{"name": "raw", "dtype": "float64", "shape": [29]}],
        "outputs": [{"name": "tensor", "dtype": "float32", "shape": [29]}],
    }))
    raw = np.linspace(-2, 2, 58).reshape(2, 29)
    got = runtime.predict({"raw": raw})
    np.testing.assert_array_equal(got["tensor"], np.tanh(raw.astype(np.float32)))
    assert got["tensor"].dtype == np.float32


TWO_BUILDERS = BYOP_SOURCE.format(input="dense_1") + "\n\nclass Another(ScaleInferenceBuilder):\n    pass\n"
NO_BUILDER = BYOP_SOURCE.format(input="dense_1").split("class ScaleInferenceBuilder")[0]
NO_PREDICT = BYOP_SOURCE.format(input="dense_1").replace("def _predict", "def predict_other")
NO_MODEL_TYPES = BYOP_SOURCE.format(input="dense_1").replace("def expected_model_types", "def types")


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda p: byop_zip(p, source=NO_BUILDER), "no InferenceBuilder subclass"),
        (lambda p: byop_zip(p, source=TWO_BUILDERS), "exactly one InferenceBuilder"),
        (lambda p: byop_zip(p, source=NO_PREDICT), "must implement _predict"),
        (lambda p: byop_zip(p, source=NO_MODEL_TYPES), "must define the expected_model_types"),
        (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip") and p, "unreadable zip"),
    ],
    ids=["no-builder", "two-builders", "no-predict", "no-model-types", "unreadable-zip"],
)
def test_byop_upload_names_the_broken_rule(make, rule: str, tmp_path: Path) -> None:
    import joey

    client = joey.Client(settings=Settings(home=tmp_path / "home"))
    artifact = make(tmp_path / "broken.zip")
    with pytest.raises(ModelUploadError, match=rule):
        client.upload_model("broken-byop", artifact, framework=joey.Framework.CUSTOM,
                            input_schema=_byop_input(), output_schema=BYOP_OUTPUT_SCHEMA)
    failed = client.get_model("broken-byop")
    assert failed.status() == "error"
    assert any("custom model validation failed" in line and rule in line for line in failed.get_upload_logs())


@pytest.mark.parametrize(
    "source",
    [
        "def process_data(a, b):\n    return a\n",
        "def process_data():\n    return {}\n",
        "def something_else(input_data):\n    return input_data\n",
    ],
    ids=["two-arguments", "no-arguments", "missing"],
)
def test_python_step_with_a_wrong_process_data_is_refused(source: str, tmp_path: Path) -> None:
    import joey

    client = joey.Client(settings=Settings(home=tmp_path / "home"))
    with pytest.raises(ModelUploadError, match="process_data"):
        client.upload_model("bad-step", python_step(tmp_path / "s.zip", source), framework=joey.Framework.PYTHON,
                            input_schema=PYTHON_STEP_INPUT, output_schema=PYTHON_STEP_OUTPUT)


def test_zip_with_macosx_entries_and_one_folder(tmp_path: Path) -> None:
    inner = byop_zip(tmp_path / "inner.zip")
    wrapped = tmp_path / "wrapped.zip"
    with zipfile.ZipFile(inner) as source, zipfile.ZipFile(wrapped, "w") as target:
        for member in source.namelist():
            target.writestr(f"model-folder/{member}", source.read(member))
        target.writestr("__MACOSX/model-folder/._model.py", b"junk")
    cls = runtime_class("flight-custom")
    runtime = cls()
    runtime.load(wrapped, cls.parse_config(SCHEMA_CONFIG))
    assert runtime.predict({"dense_1": np.ones((1, 1), np.float32)})["prediction"][0] == 3.0


def _byop_input():
    import pyarrow as pa

    return pa.schema([pa.field("dense_1", pa.list_(pa.float32(), 1))])
