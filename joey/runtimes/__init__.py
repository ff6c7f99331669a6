"""Runtimes: one module per framework behind ``Runtime``, looked up by name.

Imports are lazy, so ``import joey`` never imports a framework; a missing framework
raises ``FrameworkNotInstalledError`` naming the extra to install.
"""

from __future__ import annotations

import importlib

from joey.errors import FrameworkNotInstalledError, PipelineConfigError
from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig

__all__ = ["RUNTIMES", "InferenceData", "Runtime", "RuntimeConfig", "runtime_class", "runtime_key"]

# runtime name -> (module, class, pip extra, modules the framework needs)
# "flight" runs a model in its own framework, so it is looked up as "flight-<framework>".
RUNTIMES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "onnx": ("joey.runtimes.onnx", "OnnxRuntime", "onnx", ("onnxruntime", "onnx")),
    "flight-sklearn": ("joey.runtimes.pickled", "SklearnRuntime", "sklearn", ("sklearn",)),
    "flight-xgboost": ("joey.runtimes.pickled", "XGBoostRuntime", "xgboost", ("xgboost",)),
    "flight-pytorch": ("joey.runtimes.torchscript", "TorchScriptRuntime", "pytorch", ("torch",)),
    "tensorflow": ("joey.runtimes.tensorflow", "TensorFlowRuntime", "tensorflow", ("tensorflow",)),
    "flight-keras": ("joey.runtimes.tensorflow", "KerasRuntime", "tensorflow", ("keras", "tensorflow")),
    "flight-custom": ("joey.runtimes.byop", "ByopRuntime", "onnx", ()),
    "python": ("joey.runtimes.byop", "PythonStepRuntime", "onnx", ()),
}


def runtime_key(runtime: str, framework: str) -> str:
    """Registry key of a model's runtime: ``flight`` is chosen by framework."""
    return f"flight-{framework}" if runtime == "flight" else runtime


def runtime_class(name: str) -> type[Runtime]:
    """The runtime registered under ``name``, imported on first use."""
    try:
        module_name, class_name, extra, needs = RUNTIMES[name]
    except KeyError:
        choices = ", ".join(sorted(RUNTIMES))
        raise PipelineConfigError(f"unknown runtime {name!r}; choose one of {choices}") from None
    for dependency in needs:
        try:
            importlib.import_module(dependency)
        except ImportError as exc:
            raise FrameworkNotInstalledError(name, extra) from exc
    cls: type[Runtime] = getattr(importlib.import_module(module_name), class_name)
    return cls
