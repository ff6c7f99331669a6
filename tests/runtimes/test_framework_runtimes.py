"""scikit-learn, XGBoost and TorchScript: each framework's own runtime, and conversion to ONNX
kept only when proven equal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from joey.runtimes import runtime_class
from joey.runtimes.convert import try_convert
from joey.runtimes.schema import fields_from_schema
from joey.testing import framework_models as fm

FACTORIES: dict[str, tuple[Callable[[Path], fm.Trained], bool]] = {
    # name: (factory, does the conversion to ONNX prove equal?)
    "sklearn-logreg": (fm.sklearn_logreg, True),
    "sklearn-function-transformer": (fm.sklearn_unconvertible, False),
    "xgboost-classifier": (fm.xgboost_classifier, True),
    "xgboost-booster": (fm.xgboost_booster, True),
    "pytorch-single-io": (fm.torchscript_single_io, True),
    "pytorch-multi-io": (fm.torchscript_multi_io, True),
    "pytorch-float64": (lambda d: fm.torchscript_single_io(d, "float64"), False),
    "keras-h5": (fm.keras_sequential, True),
    "keras-v3-file": (lambda d: fm.keras_sequential(d, ".keras"), True),
}


def _flight(trained: fm.Trained):
    inputs, outputs = fields_from_schema(trained.input_schema), fields_from_schema(trained.output_schema)
    cls = runtime_class(f"flight-{trained.framework}")
    runtime = cls()
    runtime.load(trained.path, cls.parse_config({
        "inputs": [f.model_dump() for f in inputs], "outputs": [f.model_dump() for f in outputs],
    }))
    return runtime, inputs, outputs


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_flight_runtime_matches_the_framework(name: str, tmp_path: Path) -> None:
    trained = FACTORIES[name][0](tmp_path)
    runtime, _, outputs = _flight(trained)
    got = runtime.predict(trained.x)
    for field in outputs:
        assert got[field.name].dtype == np.dtype(field.dtype)
        np.testing.assert_allclose(got[field.name], np.asarray(trained.expected[field.name]).reshape(got[field.name].shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_conversion_is_kept_only_when_proven(name: str, tmp_path: Path) -> None:
    factory, convertible = FACTORIES[name]
    trained = factory(tmp_path)
    runtime, inputs, outputs = _flight(trained)
    target = tmp_path / "converted.onnx"
    record = try_convert(trained.framework, trained.path, runtime, inputs, outputs, target)
    assert record.kept is convertible, record
    assert target.exists() is convertible
    if convertible:
        assert record.inputs_compared == 64
        assert record.max_abs_diff is not None and record.max_abs_diff < 1e-4
        onnx_runtime = runtime_class("onnx")()
        onnx_runtime.load(target, onnx_runtime.parse_config(None))
        got = onnx_runtime.predict(trained.x)
        for field in outputs:
            assert got[field.name].dtype == np.dtype(field.dtype)
            np.testing.assert_allclose(got[field.name], np.asarray(trained.expected[field.name]).reshape(got[field.name].shape), rtol=1e-4, atol=1e-5)
    else:
        assert record.detail


def test_a_pickle_the_library_cannot_load_names_the_version(tmp_path: Path) -> None:
    import sklearn

    from joey.runtimes.pickled import SklearnRuntime

    broken = tmp_path / "broken.pkl"
    # a pickle of a class this scikit-learn does not have
    broken.write_bytes(b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x0fsklearn.nowhere\x94\x8c\x05Thing\x94\x93\x94.")
    runtime = SklearnRuntime()
    with pytest.raises(ValueError, match=f"scikit-learn {sklearn.__version__} cannot load this pickle"):
        runtime.load(broken, SklearnRuntime.parse_config({"inputs": [{"name": "inputs", "dtype": "float64", "shape": [4]}], "outputs": []}))


def test_tensorflow_savedmodel_serves_its_signature_with_outputs_sorted(tmp_path: Path) -> None:
    trained = fm.tensorflow_savedmodel(tmp_path)
    cls = runtime_class("tensorflow")
    runtime = cls()
    runtime.load(trained.path, cls.parse_config(None))
    inputs, outputs = runtime.signature()
    assert [(f.name, f.dtype, f.shape) for f in inputs] == [("text_input", "float32", (50,))]
    assert [f.name for f in outputs] == ["alpha", "main", "zeta"]
    got = runtime.predict(trained.x)
    for name, expected in trained.expected.items():
        np.testing.assert_allclose(got[name], expected, atol=1e-6)


def test_a_version_mismatch_warning_is_kept_in_the_upload_log(tmp_path: Path) -> None:
    import sklearn

    import joey
    from joey.config import Settings

    trained = fm.sklearn_logreg(tmp_path)
    current = sklearn.__version__.encode()
    older = b"0.0.0"[: len(current)].ljust(len(current), b"0")
    raw = trained.path.read_bytes()
    assert current in raw
    trained.path.write_bytes(raw.replace(current, older))  # as if pickled by another scikit-learn
    client = joey.Client(settings=Settings(home=tmp_path / "home"))
    model = client.upload_model("old-pickle", trained.path, framework="sklearn",
                                input_schema=trained.input_schema, output_schema=trained.output_schema)
    warnings = [line for line in model.get_upload_logs() if line.startswith("warning:")]
    assert warnings and older.decode() in warnings[0] and sklearn.__version__ in warnings[0]


REALWORLD = Path(__file__).resolve().parents[3] / "shared" / "realworld"


@pytest.mark.skipif(not (REALWORLD / "aloha").exists(), reason="shared/realworld is not beside the checkout")
def test_real_aloha_savedmodel_from_an_older_tensorflow_gives_its_published_outputs() -> None:
    import pandas as pd

    cls = runtime_class("tensorflow")
    runtime = cls()
    runtime.load(REALWORLD / "aloha" / "alohacnnlstm.zip", cls.parse_config(None))
    _, outputs = runtime.signature()
    assert len(outputs) == 15 and outputs[0].name == "banjori"
    rows = pd.read_json(REALWORLD / "aloha" / "data_1.df.json", orient="records")
    got = runtime.predict({"text_input": np.array(rows["text_input"].tolist(), dtype=np.float32)})
    assert got["main"][0, 0] == pytest.approx(0.997564, abs=1e-6)
    assert got["corebot"][0, 0] == pytest.approx(0.98291475, abs=1e-6)
