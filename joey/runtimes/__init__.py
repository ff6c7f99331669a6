"""Runtimes: one module per framework behind ``Runtime``, looked up by name.

Imports are lazy, so ``import joey`` never imports a framework; a missing framework
raises ``FrameworkNotInstalledError`` naming the extra to install.
"""

from __future__ import annotations

import importlib

from joey.errors import FrameworkNotInstalledError, PipelineConfigError
from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig

__all__ = ["RUNTIMES", "InferenceData", "Runtime", "RuntimeConfig", "runtime_class"]

# runtime name -> (module, class, pip extra, modules the framework needs)
RUNTIMES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "onnx": ("joey.runtimes.onnx", "OnnxRuntime", "onnx", ("onnxruntime", "onnx")),
}


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
