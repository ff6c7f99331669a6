"""Bring your own predictor (BYOP) and Python steps, with Wallaroo's ``mac`` names.

User code written for Wallaroo imports ``mac.types``, ``mac.inference``,
``mac.inference.creation`` and ``mac.config.inference``: joey provides those modules while
it imports the user's code (never as a package in site-packages), backed by the classes here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import sys
import tempfile
import types
import zipfile
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig
from joey.runtimes.pickled import SchemaConfig
from joey.spec import TensorField


class CustomInferenceConfig:
    """What a builder's ``create`` receives: ``model_path`` is the unpacked zip's folder."""

    def __init__(self, model_path: Path, framework: str = "custom") -> None:
        self.model_path = Path(model_path)
        self.framework = framework


class Inference:
    """Base of a BYOP model: set ``model`` and implement ``_predict``."""

    def __init__(self) -> None:
        self._model: Any = None

    @property
    def expected_model_types(self) -> set[Any]:
        return {Any}

    @property
    def model(self) -> Any:
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        self._raise_error_if_model_is_wrong_type(model)
        self._model = model

    def _raise_error_if_model_is_wrong_type(self, model: Any) -> None:
        allowed = self.expected_model_types
        if Any in allowed or any(isinstance(model, t) for t in allowed if isinstance(t, type)):
            return
        raise TypeError(f"model of type {type(model).__name__} is not one of {allowed}")

    def predict(self, input_data: InferenceData) -> InferenceData:
        return self._predict(input_data)

    @abstractmethod
    def _predict(self, input_data: InferenceData) -> InferenceData:
        """Turn a batch into outputs keyed by the output schema's names."""


class InferenceBuilder:
    """Base of a BYOP builder: ``create(config)`` returns a ready ``Inference``."""

    @property
    def inference(self) -> Inference:
        raise NotImplementedError

    def create(self, config: CustomInferenceConfig) -> Inference:
        raise NotImplementedError


def _mac_modules() -> dict[str, types.ModuleType]:
    names: dict[str, dict[str, Any]] = {
        "mac": {},
        "mac.types": {"InferenceData": InferenceData},
        "mac.inference": {"Inference": Inference},
        "mac.inference.creation": {"InferenceBuilder": InferenceBuilder},
        "mac.config": {},
        "mac.config.inference": {"CustomInferenceConfig": CustomInferenceConfig},
    }
    modules = {}
    for name, members in names.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        module.__path__ = []  # a package, so submodules import
        modules[name] = module
    return modules


@contextlib.contextmanager
def mac_shim() -> Iterator[None]:
    """``mac.*`` importable while user code loads; whatever was there before comes back."""
    modules = _mac_modules()
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


class ByopValidationError(ValueError):
    """The zip breaks one of the BYOP rules; the message names the rule."""


def unpack(artifact: Path) -> Path:
    """A folder holding the artifact's code: the zip unpacked, or the ``.py`` file's copy."""
    folder = Path(tempfile.mkdtemp(prefix="joey-code-"))
    if artifact.suffix == ".py":
        (folder / artifact.name).write_bytes(artifact.read_bytes())
        return folder
    try:
        with zipfile.ZipFile(artifact) as archive:
            members = [m for m in archive.namelist() if not m.startswith("__MACOSX/")]
            archive.extractall(folder, members)
    except zipfile.BadZipFile as exc:
        raise ByopValidationError(f"unreadable zip: {exc}") from exc
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not (folder / "requirements.txt").exists():
        return entries[0]  # a zip of one folder
    return folder


def _import_all(folder: Path) -> list[types.ModuleType]:
    """Import every top-level ``.py`` file of ``folder`` under a unique name."""
    modules = []
    sys.path.insert(0, str(folder))
    try:
        with mac_shim():
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


def find_builder(folder: Path) -> type[InferenceBuilder]:
    """The one ``InferenceBuilder`` subclass, checked against the BYOP rules."""
    if not (folder / "requirements.txt").is_file():
        raise ByopValidationError("the zip needs a top-level requirements.txt (it may be empty)")
    modules = _import_all(folder)
    builders = {c for m in modules for c in vars(m).values()
                if inspect.isclass(c) and issubclass(c, InferenceBuilder) and c is not InferenceBuilder}
    inferences = {c for m in modules for c in vars(m).values()
                  if inspect.isclass(c) and issubclass(c, Inference) and c is not Inference}
    if not builders:
        raise ByopValidationError("no InferenceBuilder subclass found")
    if len(builders) > 1:
        raise ByopValidationError(f"exactly one InferenceBuilder subclass allowed, found {sorted(c.__name__ for c in builders)}")
    if len(inferences) != 1:
        raise ByopValidationError(f"exactly one Inference subclass required, found {sorted(c.__name__ for c in inferences)}")
    (inference,) = inferences
    if "_predict" not in vars(inference) or getattr(inference._predict, "__isabstractmethod__", False):
        raise ByopValidationError(f"{inference.__name__} must implement _predict(self, input_data)")
    (builder,) = builders
    return builder


def find_process_data(folder: Path) -> Any:
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
        with mac_shim():
            self._inference = builder().create(CustomInferenceConfig(folder))

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
