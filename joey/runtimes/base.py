"""The one interface every framework implements.

A runtime loads one artifact and turns ``InferenceData`` (a dict of numpy arrays,
batch first) into ``InferenceData``. It knows nothing of pipelines, HTTP or Ray:
the step deployment alone decides how to run it (thread, batch, replica).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from joey.spec import TensorField
from joey.tables.tensors import InferenceData

__all__ = ["InferenceData", "Runtime", "RuntimeConfig"]


class RuntimeConfig(BaseModel):
    """Base of each runtime's typed config; unknown keys are an error at upload."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Runtime(ABC):
    """Load one model artifact and answer ``predict`` synchronously."""

    name: ClassVar[str]
    """Wallaroo's runtime string: ``onnx``, ``tensorflow``, ``python``, ``flight``, ``mlflow``."""
    isolated: ClassVar[bool] = False
    """Whether the model brings requirements that need their own environment."""
    config_type: ClassVar[type[RuntimeConfig]] = RuntimeConfig

    @abstractmethod
    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        """Load the artifact; raise if it cannot serve."""

    @abstractmethod
    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        """The loaded model's (inputs, outputs), in the order the model declares them."""

    @abstractmethod
    def predict(self, data: InferenceData) -> InferenceData:
        """Run the model on a batch keyed by input name; answer keyed by output name."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``load`` acquired."""

    @classmethod
    def parse_config(cls, raw: dict[str, Any] | None) -> RuntimeConfig:
        return cls.config_type.model_validate(raw or {})
