"""The one interface every framework implements.

A runtime loads one artifact and turns ``InferenceData`` (a dict of numpy arrays,
batch first) into ``InferenceData``. It knows nothing of pipelines, HTTP or Ray:
the step deployment alone decides how to run it (thread, batch, replica).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from joey.spec import TensorField
from joey.tables.tensors import InferenceData

__all__ = ["REPLICA_PACKAGES", "InferenceData", "Runtime", "RuntimeConfig", "SchemaConfig"]

REPLICA_PACKAGES = ("numpy", "pyarrow", "pydantic", "orjson", "fsspec")
"""What a step replica imports besides Ray Serve: every isolated environment has them (a
model's own pins of them are relaxed so the replica keeps working)."""


class RuntimeConfig(BaseModel):
    """Base of each runtime's typed config; unknown keys are an error at upload."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SchemaConfig(RuntimeConfig):
    """The model's signature, given by the user's input and output schemas."""

    inputs: tuple[TensorField, ...]
    outputs: tuple[TensorField, ...]


class Runtime(ABC):
    """Load one model artifact and answer ``predict`` synchronously."""

    name: ClassVar[str]
    """Wallaroo's runtime string: ``onnx``, ``tensorflow``, ``python``, ``flight``, ``mlflow``."""
    config_type: ClassVar[type[RuntimeConfig]] = RuntimeConfig
    load_log: Sequence[str] = ()
    """What ``load`` noticed that the upload log should show (version-mismatch warnings)."""
    probe_at_upload: ClassVar[bool] = False
    """Upload runs ``example_input()`` through the model and checks the answer against the
    output schema (models whose schemas are declared, not read from the file)."""

    @abstractmethod
    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        """Load the artifact; raise if it cannot serve."""

    _inputs: tuple[TensorField, ...] = ()
    _outputs: tuple[TensorField, ...] = ()

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        """The loaded model's (inputs, outputs), in the order the model declares them.

        By default what ``load`` kept of a ``SchemaConfig`` (see ``keep_schema``); a runtime
        whose file declares its own signature reads it there instead.
        """
        return self._inputs, self._outputs

    def keep_schema(self, config: RuntimeConfig) -> SchemaConfig:
        """Keep the user's schemas as this runtime's signature; the config, typed."""
        if not isinstance(config, SchemaConfig):
            raise TypeError(f"{type(self).__name__} needs a SchemaConfig, got {type(config).__name__}")
        self._inputs, self._outputs = config.inputs, config.outputs
        return config

    def example_input(self) -> InferenceData:
        """One generated row to prove a load at upload (``probe_at_upload``)."""
        from joey.runtimes.schema import sample_inputs

        return sample_inputs(self._inputs, 1)

    @abstractmethod
    def predict(self, data: InferenceData) -> InferenceData:
        """Run the model on a batch keyed by input name; answer keyed by output name."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``load`` acquired."""

    @classmethod
    def parse_config(cls, raw: dict[str, Any] | None) -> RuntimeConfig:
        return cls.config_type.model_validate(raw or {})
