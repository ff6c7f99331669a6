"""Bring your own predictor (BYOP) and Python steps, with Wallaroo's ``mac`` names.

The ``mac`` interfaces live here, once: ``Inference``, ``InferenceBuilder``,
``CustomInferenceConfig``, ``ModelNotAssignedError``, ``InferenceData`` and ``PythonStep``.
The top-level ``mac`` package installed with joey only re-exports them, so a Wallaroo
author's notebook and joey's replicas use the same classes.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from joey.runtimes.archive import UnreadableArchiveError, model_root, unpack
from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.spec import TensorField

__all__ = [
    "ByopRuntime",
    "ByopValidationError",
    "CustomInferenceConfig",
    "Inference",
    "InferenceBuilder",
    "InferenceData",
    "ModelNotAssignedError",
    "PythonStep",
    "PythonStepRuntime",
    "UnreadableArchiveError",
    "model_root",
    "unpack",
]

PythonStep = Callable[[InferenceData], InferenceData]
"""What a Python step's ``process_data`` is, and what a loaded BYOP ``predict`` is."""


class ModelNotAssignedError(Exception):
    """``Inference.predict`` was called before the builder assigned ``model``."""


class CustomInferenceConfig(BaseModel):
    """What a builder's ``create`` receives, validated as Wallaroo does on construction.

    ``model_path`` is the model's folder (joey passes the unpacked zip's); ``modules_to_include``
    are globs of the ``.py`` files holding the code.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    framework: str = Field(default="custom", validate_default=True)
    model_path: Path = Field(default=Path("./byop/"), validate_default=True)
    modules_to_include: set[Path] = Field(default_factory=lambda: {Path("*.py")})

    @field_validator("framework", mode="before")
    @classmethod
    def _framework_is_custom(cls, value: Any) -> str:
        if str(getattr(value, "value", value)) != "custom":
            raise ValueError(f"`framework` should be 'custom', got {value!r}")
        return "custom"

    @field_validator("model_path")
    @classmethod
    def _model_path_is_a_folder(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"`model_path` should be an existing directory, got {str(value)!r}")
        return value

    @field_validator("modules_to_include")
    @classmethod
    def _modules_are_python(cls, value: set[Path]) -> set[Path]:
        wrong = sorted(str(p) for p in value if p.suffix != ".py")
        if wrong:
            raise ValueError(f"`modules_to_include` must only match .py files, got {wrong}")
        return value


def _is_instance(model: Any, expected: Any) -> bool:
    """``isinstance`` that also takes ``Any`` and bare typing aliases such as ``Dict``."""
    if expected is Any:
        return True
    try:
        return isinstance(model, expected)
    except TypeError:
        return False


class Inference(ABC):
    """A BYOP model: ``expected_model_types``, a ``model`` the builder sets, ``_predict``."""

    def __init__(self) -> None:
        self._model: Any = None

    @property
    @abstractmethod
    def expected_model_types(self) -> set[Any]:
        """The types ``model`` may have (``_raise_error_if_model_is_wrong_type`` checks them)."""

    @property
    def model(self) -> Any:
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        # Wallaroo's base has no setter; joey's checks the type, so code that forgot one still runs.
        self._raise_error_if_model_is_wrong_type(model)
        self._model = model

    def _raise_error_if_model_is_wrong_type(self, model: Any) -> None:
        expected = self.expected_model_types
        if not any(_is_instance(model, t) for t in expected):
            names = [getattr(t, "__name__", str(t)) for t in expected]
            got = type(model).__name__
            raise TypeError(f"The model is not of type(s): {names}. Got type {got!r} instead.")

    def predict(self, input_data: InferenceData) -> InferenceData:
        """``_predict`` on the batch, once the builder has assigned ``model``."""
        if self.model is None:
            raise ModelNotAssignedError("The model is not assigned to the Inference object.")
        return self._predict(input_data)

    @abstractmethod
    def _predict(self, input_data: InferenceData) -> InferenceData:
        """Turn a batch into outputs keyed by the output schema's names."""


class InferenceBuilder(ABC):
    """Base of a BYOP builder: ``create(config)`` returns a ready ``Inference``."""

    @property
    @abstractmethod
    def inference(self) -> Inference:
        """The ``Inference`` that ``create`` completes (a class or an instance, as Wallaroo's)."""

    @abstractmethod
    def create(self, config: CustomInferenceConfig) -> Inference:
        """An ``Inference`` with its ``model`` assigned, loaded from ``config.model_path``."""


class ByopValidationError(ValueError):
    """The zip breaks one of the BYOP rules; the message names the rule."""



def _import_all(folder: Path) -> list[types.ModuleType]:
    """Import every top-level ``.py`` file of ``folder`` under a unique name.

    Its ``mac.*`` imports resolve to the ``mac`` package installed with joey.
    """
    modules = []
    sys.path.insert(0, str(folder))
    try:
        for path in sorted(folder.glob("*.py")):
            name = f"joey_user_{abs(hash(str(folder)))}_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            modules.append(module)
    finally:
        sys.path.remove(str(folder))
    return modules


def _subclasses(modules: list[types.ModuleType], base: type) -> set[type]:
    """The subclasses of ``base`` (not ``base`` itself) that the modules define or import."""
    return {c for m in modules for c in vars(m).values()
            if inspect.isclass(c) and issubclass(c, base) and c is not base}


def find_builder(folder: Path) -> type[InferenceBuilder]:
    """The one ``InferenceBuilder`` subclass, checked against the BYOP rules.

    A missing ``requirements.txt`` is read as an empty one (the upload log warns of it).
    """
    modules = _import_all(folder)
    builders = _subclasses(modules, InferenceBuilder)
    inferences = _subclasses(modules, Inference)
    if not builders:
        raise ByopValidationError("no InferenceBuilder subclass found")
    if len(builders) > 1:
        names = sorted(c.__name__ for c in builders)
        raise ByopValidationError(f"exactly one InferenceBuilder subclass allowed, found {names}")
    if len(inferences) != 1:
        names = sorted(c.__name__ for c in inferences)
        raise ByopValidationError(f"exactly one Inference subclass required, found {names}")
    (inference,) = inferences
    own_predict = vars(inference).get("_predict")
    if own_predict is None or getattr(own_predict, "__isabstractmethod__", False):
        raise ByopValidationError(f"{inference.__name__} must implement _predict(self, input_data)")
    if "expected_model_types" in getattr(inference, "__abstractmethods__", ()):
        raise ByopValidationError(
            f"{inference.__name__} must define the expected_model_types property")
    (builder,) = builders
    return builder


def find_process_data(folder: Path) -> PythonStep:
    """The one ``process_data(input_data)`` function of a Python step."""
    found = [m.process_data for m in _import_all(folder) if callable(getattr(m, "process_data", None))]
    if len(found) != 1:
        raise ByopValidationError(f"a Python step defines exactly one process_data function, found {len(found)}")
    parameters = list(inspect.signature(found[0]).parameters.values())
    if len(parameters) != 1 or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        raise ByopValidationError(
            "process_data must take exactly one argument: process_data(input_data: InferenceData) -> InferenceData"
        )
    return found[0]


def _conform(result: Any, outputs: tuple[TensorField, ...], who: str) -> InferenceData:
    if not isinstance(result, dict):
        raise TypeError(f"{who} must return a dict of numpy arrays, got {type(result).__name__}")
    conformed: InferenceData = {}
    for field in outputs:
        if field.name not in result:
            raise KeyError(f"{who} returned no {field.name!r} (returned {sorted(result)})")
        value = np.asarray(result[field.name])
        conformed[field.name] = value if field.dtype == "string" else value.astype(field.dtype, copy=False)
    return conformed


class ByopRuntime(Runtime):
    """A BYOP zip: its builder creates the ``Inference`` once; ``_predict`` answers batches."""

    name = "flight"
    config_type = SchemaConfig

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        assert isinstance(config, SchemaConfig)
        self._inputs, self._outputs = config.inputs, config.outputs
        folder = unpack(artifact)
        builder = find_builder(folder)
        config_for_code = CustomInferenceConfig(framework="custom", model_path=folder)
        self._inference = builder().create(config_for_code)

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def predict(self, data: InferenceData) -> InferenceData:
        return _conform(self._inference.predict(data), self._outputs, "_predict")


class PythonStepRuntime(Runtime):
    """A Python step: ``process_data(input_data) -> InferenceData`` in a ``.py`` or zip."""

    name = "python"
    config_type = SchemaConfig

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        assert isinstance(config, SchemaConfig)
        self._inputs, self._outputs = config.inputs, config.outputs
        self._process = find_process_data(unpack(artifact))

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def predict(self, data: InferenceData) -> InferenceData:
        return _conform(self._process(dict(data)), self._outputs, "process_data")
