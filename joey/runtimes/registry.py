"""One record per framework: everything upload and deploy need to know about it.

Adding a framework is one runtime module and one record here. Upload reads the record and
walks a straight line (resolve -> load -> signature -> convert and prove -> store ->
record); deploy reads it to pick the class that runs a model on its runtime. Module paths
are strings, so nothing here imports a framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from joey.errors import FrameworkNotInstalledError, ModelUploadError, PipelineConfigError
from joey.framework import Framework
from joey.runtimes.base import Runtime

__all__ = [
    "FRAMEWORKS",
    "NATIVE_RUNTIMES",
    "SCHEMA_RUNTIMES",
    "FrameworkRecord",
    "record_for",
    "runtime_class",
    "runtime_for",
    "runtime_key",
]

NATIVE_RUNTIMES = frozenset({"onnx", "tensorflow", "python"})
"""Runtimes of Wallaroo's native engine: joey may run them inside the ingress."""
SCHEMA_RUNTIMES = frozenset({"flight", "python", "mlflow"})
"""Runtimes whose inputs and outputs are what the user's (or the task's) schemas say."""

Schemas = Literal["model", "user", "user_or_default"]


def _attribute(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class FrameworkRecord:
    """What joey knows of one framework. Callables are ``"module:name"`` strings, imported
    on use, so the platform never imports a framework it does not run."""

    framework: Framework
    runtime: str
    """Wallaroo's runtime string for the uploaded file as it is (``flight``: its own framework)."""
    loader: str
    """The ``Runtime`` class that runs the uploaded file."""
    extra: str = ""
    """The pip extra that installs what ``needs`` names into the platform."""
    needs: tuple[str, ...] = ()
    """Modules the loader imports in the platform's process."""
    suffixes: tuple[str, ...] = ()
    """File suffixes that name this framework when ``framework=`` is not given."""
    schemas: Schemas = "user"
    """``model``: read from the file; ``user``: the user's input and output schemas;
    ``user_or_default``: the user's, else ``default_schemas`` (a task's, a signature's)."""
    default_schemas: str | None = None
    """``(artifact, framework) -> (input, output) pa.Schema | None``."""
    converter: str | None = None
    """The converter's name in the conversion record (``skl2onnx``, ``tf2onnx``, ...)."""
    to_onnx: str | None = None
    """``(runtime, artifact, inputs) -> onnx.ModelProto``; tried at upload, kept only if proven."""
    requirements: str | None = None
    """``(artifact, framework) -> list[str] | None``: what the model's own environment
    installs; ``None`` (or no function) runs the model in the platform's environment."""
    runtime_config: Mapping[str, str] = field(default_factory=dict)
    """Settings the loader's config takes besides the schemas (a Hugging Face model's task)."""
    requirements_file_expected: bool = False
    """Wallaroo requires a ``requirements.txt`` (even empty): upload warns when it is missing."""
    optional_inputs: bool = False
    """Inputs may be null unless the schema says ``nullable=False`` (BYOP)."""
    per_row: bool = False
    """Columns reach the model as one value per row in the exact Arrow type of the schema
    (ragged lists, structs), and a nullable input column may be left out of a request."""
    failures_recorded: bool = False
    """A model that fails its check is still recorded, with status ``error`` and the log
    (Wallaroo's container runtimes: code, Hugging Face, MLflow)."""
    extra_columns: str | None = None
    """``(framework) -> "ignore" | "pass" | "refuse"``: request columns the schema does not
    name (default: ignored and echoed)."""
    resolve_uri: str | None = None
    """``(uri) -> Path``: a local folder for a registry URI (MLflow's ``models:/``)."""
    env_vars: Mapping[str, str] = field(default_factory=dict)
    """Environment the model's replica (and its upload check) runs with."""

    def call(self, attribute: str | None, *args: Any) -> Any:
        """Call one of the record's ``module:name`` functions (``None`` when it has none)."""
        return None if attribute is None else _attribute(attribute)(*args)

    @property
    def key(self) -> str:
        """The registry key of the uploaded file's runtime (``flight-<framework>`` for flight)."""
        return runtime_key(self.runtime, self.framework.value)


_HF_TASKS = [f for f in Framework if f.value.startswith("hugging-face-")]
_HF_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}

_RECORDS: list[FrameworkRecord] = [
    FrameworkRecord(Framework.ONNX, "onnx", "joey.runtimes.onnx:OnnxRuntime", "onnx",
                    ("onnxruntime", "onnx"), (".onnx",), schemas="model"),
    FrameworkRecord(Framework.TENSORFLOW, "tensorflow", "joey.runtimes.tensorflow:TensorFlowRuntime",
                    "tensorflow", ("tensorflow",), schemas="model", converter="tf2onnx",
                    to_onnx="joey.runtimes.convert:savedmodel_to_onnx"),
    FrameworkRecord(Framework.PYTHON, "python", "joey.runtimes.byop:PythonStepRuntime", "onnx", (),
                    (".py",), requirements="joey.runtimes.archive:requirements_of",
                    failures_recorded=True),
    FrameworkRecord(Framework.KERAS, "flight", "joey.runtimes.tensorflow:KerasRuntime", "tensorflow",
                    ("keras", "tensorflow"), (".h5", ".keras"), converter="tf2onnx",
                    to_onnx="joey.runtimes.convert:keras_to_onnx"),
    FrameworkRecord(Framework.SKLEARN, "flight", "joey.runtimes.pickled:SklearnRuntime", "sklearn",
                    ("sklearn",), converter="skl2onnx", to_onnx="joey.runtimes.convert:sklearn_to_onnx"),
    FrameworkRecord(Framework.PYTORCH, "flight", "joey.runtimes.torchscript:TorchScriptRuntime",
                    "pytorch", ("torch",), (".pt", ".pth"), converter="torch.onnx",
                    to_onnx="joey.runtimes.convert:torchscript_to_onnx"),
    FrameworkRecord(Framework.XGBOOST, "flight", "joey.runtimes.pickled:XGBoostRuntime", "xgboost",
                    ("xgboost",), converter="onnxmltools",
                    to_onnx="joey.runtimes.convert:xgboost_to_onnx"),
    FrameworkRecord(Framework.CUSTOM, "flight", "joey.runtimes.byop:ByopRuntime", "onnx",
                    requirements="joey.runtimes.archive:requirements_of", optional_inputs=True,
                    failures_recorded=True, requirements_file_expected=True),
    FrameworkRecord(Framework.MLFLOW, "mlflow", "joey.runtimes.mlflow:MlflowRuntime", "mlflow",
                    ("mlflow",), schemas="user_or_default",
                    default_schemas="joey.runtimes.mlflow:default_schemas", converter="mlflow flavor",
                    to_onnx="joey.runtimes.mlflow:to_onnx",
                    requirements="joey.runtimes.mlflow:requirements_of", per_row=True,
                    failures_recorded=True, resolve_uri="joey.runtimes.mlflow:resolve_uri"),
    *(FrameworkRecord(task, "flight", "joey.runtimes.hugging_face:HuggingFaceRuntime",
                      schemas="user_or_default", default_schemas="joey.runtimes.hf_tasks:default_schemas",
                      requirements="joey.runtimes.hf_tasks:requirements_of", per_row=True,
                      failures_recorded=True, env_vars=_HF_OFFLINE,
                      runtime_config={"task": task.value},
                      extra_columns="joey.runtimes.hf_tasks:extra_columns") for task in _HF_TASKS),
]

FRAMEWORKS: dict[Framework, FrameworkRecord] = {r.framework: r for r in _RECORDS}


def record_for(framework: Framework | str | None, path: Path | None = None) -> FrameworkRecord:
    """The record of the framework given, or of the one the file's suffix names."""
    if framework is not None:
        try:
            return FRAMEWORKS[Framework(framework)]
        except ValueError:
            choices = ", ".join(f.value for f in Framework)
            raise ModelUploadError(f"unknown framework {framework!r}; choose one of {choices}") from None
    suffix = path.suffix.lower() if path is not None else ""
    found = next((r for r in _RECORDS if suffix and suffix in r.suffixes), None)
    if found is None:
        name = path.name if path is not None else "the model"
        choices = ", ".join(f"Framework.{f.name}" for f in Framework)
        raise ModelUploadError(
            f"cannot tell the framework of {name!r} from its name; pass framework= one of {choices}")
    return found


def runtime_key(runtime: str, framework: str) -> str:
    """Registry key of a model's runtime: ``flight`` is chosen by framework."""
    return f"flight-{framework}" if runtime == "flight" else runtime


def _keys() -> dict[str, FrameworkRecord]:
    keys: dict[str, FrameworkRecord] = {}
    for record in _RECORDS:
        keys.setdefault(record.key, record)
    return keys


_KEYS: dict[str, FrameworkRecord] = _keys()


def runtime_class(key: str) -> type[Runtime]:
    """The runtime registered under ``key`` (``onnx``, ``flight-sklearn``, ...), imported now."""
    record = _KEYS.get(key)
    if record is None:
        choices = ", ".join(sorted(_KEYS))
        raise PipelineConfigError(f"unknown runtime {key!r}; choose one of {choices}")
    for dependency in record.needs:
        try:
            importlib.import_module(dependency)
        except ImportError as exc:
            raise FrameworkNotInstalledError(key, record.extra) from exc
    cls: type[Runtime] = _attribute(record.loader)
    return cls


def runtime_for(runtime: str, framework: str) -> type[Runtime]:
    """The class that runs a model of ``framework`` on ``runtime``."""
    return runtime_class(runtime_key(runtime, framework))

