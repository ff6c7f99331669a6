"""The runtime contract suite: one case factory per framework, checked the same way.

Each case builds a tiny model in ``tmp_path`` and the expected output computed by the
framework itself; a framework is done when its cases pass here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from joey.runtimes import runtime_class
from joey.tables import InferenceData
from joey.testing import onnx_models


@dataclass
class Case:
    runtime: str
    artifact: Path
    inputs: InferenceData
    expected: InferenceData
    tolerance: float


CaseFactory = Callable[[Path, int], Case]


def _onnx_case(build: Callable[[Path], Path], feed: Callable[[int], InferenceData]) -> CaseFactory:
    def make(tmp_path: Path, rows: int) -> Case:
        artifact = build(tmp_path / "model.onnx")
        inputs = feed(rows)
        return Case("onnx", artifact, inputs, onnx_models.run_onnx(artifact, inputs), 0.0)

    return make


def _floats(shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(sum(shape)).normal(size=shape).astype(dtype)


def _identity_case(dtype: str) -> CaseFactory:
    def feed(rows: int) -> InferenceData:
        values = np.arange(rows * 4).reshape(rows, 4) % 7
        return {"x": values.astype(dtype)}

    return _onnx_case(lambda p: onnx_models.identity(p, dtype), feed)


CASES: dict[str, CaseFactory] = {
    "onnx-mlp": _onnx_case(onnx_models.mlp, lambda n: {"dense_input": _floats((n, 29))}),
    "onnx-multi-io": _onnx_case(
        onnx_models.multi_io, lambda n: {"input_1": _floats((n, 10)), "input_2": _floats((n, 5))}
    ),
    "onnx-float64": _onnx_case(
        onnx_models.float64_linear, lambda n: {"double_input": _floats((n, 3), "float64")}
    ),
    **{f"onnx-{d}": _identity_case(d) for d in onnx_models.NUMPY_TO_ONNX},
}


@pytest.mark.parametrize("rows", [1, 7, 1000])
@pytest.mark.parametrize("name", sorted(CASES))
def test_runtime_matches_its_framework(name: str, rows: int, tmp_path: Path) -> None:
    case = CASES[name](tmp_path, rows)
    cls = runtime_class(case.runtime)
    runtime = cls()
    runtime.load(case.artifact, cls.parse_config(None))
    inputs, outputs = runtime.signature()
    assert [f.name for f in inputs] == list(case.inputs)
    assert [f.name for f in outputs] == list(case.expected)
    got = runtime.predict(case.inputs)
    for field in outputs:
        assert got[field.name].dtype == np.dtype(field.dtype), field.name
        assert got[field.name].shape == case.expected[field.name].shape
        np.testing.assert_allclose(got[field.name], case.expected[field.name], atol=case.tolerance)
    runtime.close()


def test_onnx_signature_reports_dtypes_and_inner_shapes(tmp_path: Path) -> None:
    cls = runtime_class("onnx")
    runtime = cls()
    runtime.load(onnx_models.multi_io(tmp_path / "m.onnx"), cls.parse_config(None))
    inputs, outputs = runtime.signature()
    assert [(f.name, f.dtype, f.shape) for f in inputs] == [
        ("input_1", "float32", (10,)), ("input_2", "float32", (5,)),
    ]
    assert [(f.name, f.shape) for f in outputs] == [("output_1", (3,)), ("output_2", (2,))]


def test_onnx_config_rejects_unknown_keys() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="no_such_option"):
        runtime_class("onnx").parse_config({"no_such_option": 1})


def test_unknown_runtime_lists_choices() -> None:
    from joey.errors import PipelineConfigError

    with pytest.raises(PipelineConfigError, match="onnx"):
        runtime_class("no-such-runtime")


@pytest.mark.parametrize(("config", "spin"), [(None, "1"), ({"allow_spinning": False}, "0")])
def test_onnx_threads_spin_only_while_a_call_runs(config: dict[str, bool] | None, spin: str,
                                                  tmp_path: Path) -> None:
    """Spinning speeds up compute-bound calls; it must stop when the call returns, or an idle
    replica keeps burning a core that the proxy and the ingress need."""
    cls = runtime_class("onnx")
    runtime = cls()
    runtime.load(onnx_models.mlp(tmp_path / "m.onnx"), cls.parse_config(config))
    options = runtime._session.get_session_options()  # type: ignore[attr-defined]
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == spin
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    out = runtime.predict({"dense_input": np.ones((4, 29), np.float32)})
    assert out["dense_1"].shape == (4, 1)
