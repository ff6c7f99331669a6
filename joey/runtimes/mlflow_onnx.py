"""MLflow flavors to ONNX: load the flavor's own object (sklearn, xgboost, pytorch, keras) and
reuse the plain frameworks' converters; a model whose signature has several scalar columns
takes them as separate ONNX inputs, concatenated inside the graph. Anything else (a custom
``PythonModel``) raises ``ValueError``, and the model runs as the pyfunc."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np

from joey.runtimes.base import Runtime
from joey.runtimes.mlflow import model_folder
from joey.spec import TensorField

__all__ = ["flavor_to_onnx"]


def _flavors(model_dir: Path) -> dict[str, Any]:
    from mlflow.models import Model

    return dict(Model.load(str(model_dir / "MLmodel")).flavors)


def _load_flavor(model_dir: Path, flavors: dict[str, Any]) -> tuple[str, Any]:
    """(joey framework name, the flavor's own model object) for the convertible flavors."""
    if "sklearn" in flavors:
        import mlflow.sklearn

        return "sklearn", mlflow.sklearn.load_model(str(model_dir))
    if "xgboost" in flavors:
        import mlflow.xgboost

        model = mlflow.xgboost.load_model(str(model_dir))
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        booster.feature_names = None  # onnxmltools reads splits as f0, f1…, not column names
        return "xgboost", model
    if "pytorch" in flavors:
        import mlflow.pytorch

        return "pytorch", mlflow.pytorch.load_model(str(model_dir), map_location="cpu")
    if "keras" in flavors:
        import mlflow.keras

        return "keras", mlflow.keras.load_model(str(model_dir))
    if "tensorflow" in flavors:
        import keras
        import mlflow.tensorflow

        model = mlflow.tensorflow.load_model(str(model_dir))
        if isinstance(model, keras.Model):
            return "keras", model
        raise ValueError("a TensorFlow SavedModel flavor does not convert; it runs as the pyfunc")
    raise ValueError(f"flavors {sorted(set(flavors) - {'python_function'}) or ['python_function']} "
                     "have no ONNX converter; the model runs as the pyfunc")


def _feature_dtype(framework: str, columns: tuple[TensorField, ...]) -> str:
    """The dtype of the one feature matrix the columns are stacked into."""
    if framework in ("xgboost", "pytorch", "keras"):
        return "float32"
    dtype = np.result_type(*(np.dtype(f.dtype) for f in columns))
    return "float64" if dtype.kind not in "fi" else str(dtype)


def _torch_module_to_onnx(module: Any, inputs: tuple[TensorField, ...]) -> Any:
    """The flavor's ``nn.Module`` to ONNX: evaluated, or wrapped when it cannot be."""
    from joey.runtimes.convert import torch_module_to_onnx

    try:
        module.eval()
    except NotImplementedError:  # a torch.export module (mlflow's pt2 format): no train/eval,
        module = _opaque(module)  # and the exporter mistakes its fx graph for a TorchScript one
    return torch_module_to_onnx(module, inputs)


def _opaque_module() -> type:
    import torch

    class Opaque(torch.nn.Module):
        """Calls a module the exporter must not walk (kept out of ``_modules``): tracing
        records its weights as constants."""

        inner: Any

        def __init__(self, inner: Any) -> None:
            super().__init__()
            object.__setattr__(self, "inner", inner)

        def forward(self, *args: Any) -> Any:
            return self.inner(*args)

    return Opaque


def _opaque(inner: Any) -> Any:
    """``inner`` inside an ``Opaque`` module, its weights frozen (trace constants may not
    require grad)."""
    for parameter in inner.parameters():
        parameter.requires_grad_(False)
    return _opaque_module()(inner)


class _Loaded:
    """What ``joey.runtimes.convert``'s converters read of a runtime: its ``model``."""

    def __init__(self, model: Any) -> None:
        self.model = model


def _convert(framework: str, model: Any, model_dir: Path,
             inputs: tuple[TensorField, ...]) -> tuple[str, Any]:
    """(converter name, ModelProto): convert.py's converters, given the flavor's object."""
    from joey.runtimes import convert

    if framework == "pytorch":
        return "torch.onnx", _torch_module_to_onnx(model, inputs)
    converters = {"sklearn": ("skl2onnx", convert.sklearn_to_onnx),
                  "xgboost": ("onnxmltools", convert.xgboost_to_onnx),
                  "keras": ("tf2onnx", convert.keras_to_onnx)}
    name, function = converters[framework]
    return name, function(cast(Runtime, _Loaded(model)), model_dir, inputs)


def _take_columns(proto: Any, columns: tuple[TensorField, ...], features: str, dtype: str) -> Any:
    """Replace the graph's one ``[None, n]`` input by n rank-1 inputs named like the columns,
    each cast to ``dtype`` and unsqueezed, concatenated into ``features``."""
    import onnx
    from onnx import helper

    graph = proto.graph
    to_type = int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
    axes = helper.make_tensor("joey_columns_axes", onnx.TensorProto.INT64, [1], [1])
    nodes, stacked = [], []
    for index, field in enumerate(columns):
        current = field.name
        if field.dtype != dtype:
            nodes.append(helper.make_node("Cast", [current], [f"joey_cast_{index}"], to=to_type))
            current = f"joey_cast_{index}"
        nodes.append(helper.make_node("Unsqueeze", [current, axes.name], [f"joey_col_{index}"]))
        stacked.append(f"joey_col_{index}")
    nodes.append(helper.make_node("Concat", stacked, [features], axis=1))
    others = [i for i in graph.input if i.name != features]
    del graph.input[:]
    graph.input.extend(helper.make_tensor_value_info(
        f.name, int(helper.np_dtype_to_tensor_dtype(np.dtype(f.dtype))), ["batch"]) for f in columns)
    graph.input.extend(others)
    graph.initializer.append(axes)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *existing])
    return proto


def flavor_to_onnx(model_dir: Path, inputs: tuple[TensorField, ...]) -> tuple[str, Any]:
    """(converter name, ONNX ModelProto) from the model's flavor object, its inputs named
    like ``inputs``; ``convert.conform`` then names and casts the outputs.

    Several scalar columns (a DataFrame signature such as iris's four doubles) become
    separate rank-1 graph inputs concatenated into the one feature matrix the model takes.
    Raises ValueError (why) for flavors without a converter, e.g. a custom ``PythonModel``.
    """
    folder = model_folder(model_dir)
    flavors = _flavors(folder)
    framework, model = _load_flavor(folder, flavors)
    if len(inputs) > 1 and all(not f.shape for f in inputs):
        if any(f.dtype == "string" for f in inputs):
            raise ValueError("string columns do not convert to ONNX; the model runs as the pyfunc")
        dtype = _feature_dtype(framework, inputs)
        features = TensorField(name="joey_features", dtype=dtype, shape=(len(inputs),))
        tried, proto = _convert(framework, model, folder, (features,))
        proto = _take_columns(proto, inputs, features.name, dtype)
    else:
        tried, proto = _convert(framework, model, folder, inputs)
    predict_fn = flavors.get("python_function", {}).get("predict_fn", "predict")
    return tried, _keep_answer(proto, probabilities=predict_fn == "predict_proba")


def _keep_answer(proto: Any, probabilities: bool) -> Any:
    """Keep only the graph output the pyfunc answers with: a classifier's converter gives
    labels and probabilities, the pyfunc one of them (``predict_fn``)."""
    outputs = list(proto.graph.output)
    if len(outputs) < 2:
        return proto
    pool = [o for o in outputs if ("prob" in o.name) == probabilities] or outputs
    del proto.graph.output[:]
    proto.graph.output.append(pool[0])
    return proto


