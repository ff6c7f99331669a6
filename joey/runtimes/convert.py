"""Conversion to ONNX, kept only when proven equal on generated inputs.

Each converter turns the uploaded artifact into an ONNX file whose inputs and outputs
carry the user's schema names, dtypes and per-row shapes; ``prove`` then runs the original
framework and onnxruntime on the same generated rows and compares every output.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from joey.runtimes.base import Runtime
from joey.runtimes.schema import sample_inputs
from joey.spec import TensorField

logger = logging.getLogger(__name__)

PROOF_ROWS = 64
RTOL = 1e-4
ATOL = 1e-5


@dataclass(frozen=True)
class ConversionRecord:
    """What upload tried, whether it kept the ONNX model, and the evidence."""

    tried: str
    kept: bool
    inputs_compared: int = 0
    max_abs_diff: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _onnx_type(dtype: str) -> int:
    from onnx import helper

    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def _pick(onnx_outputs: list[str], wanted: tuple[TensorField, ...]) -> list[str]:
    """Which converter output feeds each schema output: by order, or ``prob*`` by name."""
    if all(f.name in onnx_outputs for f in wanted):
        return [f.name for f in wanted]
    if len(onnx_outputs) == len(wanted):
        return list(onnx_outputs)
    probs = [n for n in onnx_outputs if "prob" in n]
    others = [n for n in onnx_outputs if "prob" not in n]
    picked = []
    for field in wanted:
        pool = probs if "prob" in field.name else others
        if not pool:
            raise ValueError(f"the converted model has no output for {field.name!r}: {onnx_outputs}")
        picked.append(pool.pop(0))
    return picked


def conform(model: Any, inputs: tuple[TensorField, ...], outputs: tuple[TensorField, ...]) -> Any:
    """Rename the graph's I/O to the schema, cast dtypes and fit per-row shapes."""
    import onnx
    from onnx import helper

    graph = model.graph
    renames = {i.name: f.name for i, f in zip(graph.input, inputs, strict=True)}
    chosen = _pick([o.name for o in graph.output], outputs)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    for graph_input in graph.input:
        graph_input.name = renames.get(graph_input.name, graph_input.name)
    # Free the schema names first: a converter output may already be called "probabilities".
    internal = {name: f"joey_src_{name}" for name in chosen}
    for node in graph.node:
        node.output[:] = [internal.get(n, n) for n in node.output]
        node.input[:] = [internal.get(n, n) for n in node.input]
    old_outputs = {internal[o.name]: o for o in graph.output if o.name in internal}
    chosen = [internal[n] for n in chosen]
    del graph.output[:]
    for source, field in zip(chosen, outputs, strict=True):
        value = old_outputs[source]
        rank = len(value.type.tensor_type.shape.dim)
        current = source
        if rank == 2 and not field.shape:
            axes = helper.make_tensor(f"{field.name}_axes", onnx.TensorProto.INT64, [1], [1])
            graph.initializer.append(axes)
            graph.node.append(helper.make_node("Squeeze", [current, axes.name], [f"{field.name}_squeezed"]))
            current = f"{field.name}_squeezed"
        elif rank == 1 and field.shape:
            axes = helper.make_tensor(f"{field.name}_axes", onnx.TensorProto.INT64, [1], [1])
            graph.initializer.append(axes)
            graph.node.append(helper.make_node("Unsqueeze", [current, axes.name], [f"{field.name}_unsqueezed"]))
            current = f"{field.name}_unsqueezed"
        graph.node.append(helper.make_node("Cast", [current], [field.name], to=_onnx_type(field.dtype)))
        graph.output.append(helper.make_tensor_value_info(field.name, _onnx_type(field.dtype), None))
    return model


def _initial_types(inputs: tuple[TensorField, ...]) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType

    kinds = {"float32": FloatTensorType, "float64": DoubleTensorType, "int64": Int64TensorType}
    types = []
    for field in inputs:
        if field.dtype not in kinds:
            raise ValueError(f"no ONNX conversion for {field.dtype} inputs")
        types.append((field.name, kinds[field.dtype]([None, *field.shape])))
    return types


def sklearn_to_onnx(runtime: Runtime, _artifact: Path, inputs: tuple[TensorField, ...]) -> Any:
    """skl2onnx on the unpickled estimator; probabilities as a plain tensor (no zipmap)."""
    from skl2onnx import convert_sklearn

    model = getattr(runtime, "model", None)
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    try:
        return convert_sklearn(model, initial_types=_initial_types(inputs), options=options)
    except Exception:
        return convert_sklearn(model, initial_types=_initial_types(inputs))


def xgboost_to_onnx(runtime: Runtime, _artifact: Path, inputs: tuple[TensorField, ...]) -> Any:
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    if any(f.dtype != "float32" for f in inputs):
        raise ValueError("onnxmltools converts float32 inputs only")
    types = [(f.name, FloatTensorType([None, *f.shape])) for f in inputs]
    return convert_xgboost(getattr(runtime, "model", None), initial_types=types, target_opset=15)


def torchscript_to_onnx(_runtime: Runtime, artifact: Path, inputs: tuple[TensorField, ...]) -> Any:
    import torch

    module = torch.jit.load(str(artifact), map_location="cpu")
    module.eval()
    return torch_module_to_onnx(module, inputs)


def torch_module_to_onnx(module: Any, inputs: tuple[TensorField, ...]) -> Any:
    """``torch.onnx.export`` of an evaluated module with the schema's input names and a
    dynamic batch (TorchScript files and MLflow's pytorch flavor)."""
    import tempfile

    import onnx
    import torch

    if any(f.dtype != "float32" for f in inputs if f.dtype.startswith("float")):
        raise ValueError("float inputs must be float32 to convert a PyTorch model to ONNX")
    examples = tuple(torch.from_numpy(a) for a in sample_inputs(inputs, 2).values())
    names = [f.name for f in inputs]
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "model.onnx"
        torch.onnx.export(module, examples, str(target), input_names=names, dynamo=False,
                          dynamic_axes={n: {0: "batch"} for n in names})
        return onnx.load(str(target))


def keras_to_onnx(runtime: Runtime, _artifact: Path, inputs: tuple[TensorField, ...]) -> Any:
    """tf2onnx on a tf.function that calls the Keras model (``from_keras`` fails on Keras 3)."""
    import tensorflow as tf
    import tf2onnx

    model: Any = getattr(runtime, "model", None)

    spec = [tf.TensorSpec((None, *f.shape), tf.as_dtype(f.dtype), name=f.name) for f in inputs]
    compute = tf.as_dtype(model.inputs[0].dtype) if getattr(model, "inputs", None) else tf.float32

    def call(*args: Any) -> Any:
        cast = [tf.cast(a, compute) for a in args]
        return model(cast[0] if len(cast) == 1 else cast, training=False)

    proto, _ = tf2onnx.convert.from_function(tf.function(call, input_signature=spec),
                                             input_signature=spec, opset=17)
    return proto


def savedmodel_to_onnx(_runtime: Runtime, artifact: Path, inputs: tuple[TensorField, ...]) -> Any:
    """A Keras SavedModel through tf-keras (which reads older TF 2 releases' files), else the
    serving signature as a tf.function."""
    import tensorflow as tf
    import tf2onnx

    from joey.runtimes.tensorflow import saved_model_dir

    folder = saved_model_dir(artifact)
    spec = [tf.TensorSpec((None, *f.shape), tf.as_dtype(f.dtype), name=f.name) for f in inputs]
    try:
        import tf_keras

        model = tf_keras.models.load_model(str(folder), compile=False)
        if not isinstance(model, tf_keras.Model):
            raise TypeError("not a Keras model")
    except Exception:  # not a Keras SavedModel: convert its serving signature
        loaded = tf.saved_model.load(str(folder))  # keeps the variables alive while converting
        signature = loaded.signatures["serving_default"]
        names = [f.name for f in inputs]
        function = tf.function(lambda *args: signature(**dict(zip(names, args, strict=True))),
                               input_signature=spec)
        proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=17)
        del loaded
        return proto
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    return proto


def prove(original: Runtime, candidate: Runtime, inputs: tuple[TensorField, ...],
          outputs: tuple[TensorField, ...], rows: int = PROOF_ROWS) -> tuple[bool, float, str]:
    """Run both on the same generated rows: (equal, max abs difference, what differed)."""
    sample = sample_inputs(inputs, rows)
    try:
        expected = original.predict(sample)
    except Exception:
        sample = sample_inputs(inputs, rows, integral=True)
        expected = original.predict(sample)
    got = candidate.predict(sample)
    worst = 0.0
    for field in outputs:
        a = np.asarray(expected[field.name])
        b = np.asarray(got[field.name])
        if a.shape != b.shape:
            return False, float("inf"), f"{field.name}: shape {b.shape} != {a.shape}"
        if a.dtype.kind in "iub" and not np.array_equal(a, b):
            return False, float(np.abs(a.astype(float) - b.astype(float)).max()), f"{field.name}: labels differ"
        diff = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
        worst = max(worst, diff)
        if not np.allclose(a, b, rtol=RTOL, atol=ATOL):
            return False, worst, f"{field.name}: max abs diff {diff:.3g} over rtol={RTOL}, atol={ATOL}"
    return True, worst, ""


def try_convert(framework: str, artifact: Path, original: Runtime, inputs: tuple[TensorField, ...],
                outputs: tuple[TensorField, ...], destination: Path) -> ConversionRecord:
    """Convert with the framework's converter, conform and prove; write ``destination`` only
    when the conversion is kept."""
    import onnx

    from joey.runtimes.onnx import OnnxRuntime
    from joey.runtimes.registry import record_for

    record = record_for(framework)
    tried = record.converter or "none"
    try:
        if record.to_onnx is None:
            raise ValueError(f"no ONNX converter for {framework}")
        proto = conform(record.call(record.to_onnx, original, artifact, inputs), inputs, outputs)
        candidate_path = destination.with_suffix(".candidate.onnx")
        onnx.save(proto, str(candidate_path))
        candidate = OnnxRuntime()
        candidate.load(candidate_path, OnnxRuntime.parse_config(None))
        equal, worst, why = prove(original, candidate, inputs, outputs)
    except Exception as exc:
        logger.info("conversion of %s with %s failed: %s", artifact.name, tried, exc)
        return ConversionRecord(tried, False, 0, None, f"{type(exc).__name__}: {exc}"[:500])
    if not equal:
        candidate_path.unlink(missing_ok=True)
        return ConversionRecord(tried, False, PROOF_ROWS, worst, why)
    candidate_path.replace(destination)
    return ConversionRecord(tried, True, PROOF_ROWS, worst, "")
