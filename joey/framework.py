"""``Framework``: where a model comes from (Wallaroo's enum values)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Framework(StrEnum):
    """The framework of an uploaded model; the values are Wallaroo's strings."""

    ONNX = "onnx"
    TENSORFLOW = "tensorflow"
    PYTHON = "python"
    KERAS = "keras"
    SKLEARN = "sklearn"
    PYTORCH = "pytorch"
    XGBOOST = "xgboost"
    CUSTOM = "custom"
    HUGGING_FACE_FEATURE_EXTRACTION = "hugging-face-feature-extraction"
    HUGGING_FACE_TEXT_CLASSIFICATION = "hugging-face-text-classification"
    HUGGING_FACE_SENTIMENT_ANALYSIS = "hugging-face-sentiment-analysis"
    HUGGING_FACE_SUMMARIZATION = "hugging-face-summarization"
    HUGGING_FACE_TEXT_GENERATION = "hugging-face-text-generation"
    HUGGING_FACE_ZERO_SHOT_CLASSIFICATION = "hugging-face-zero-shot-classification"

    def __str__(self) -> str:
        return self.value


class CustomConfig(BaseModel):
    """Wallaroo's framework config of a BYOP model (``upload_model(framework_config=...)``).

    joey records it on the model version; the loader finds the one ``InferenceBuilder``
    among every ``.py`` file of the zip whatever ``model_path`` says.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    framework: Literal["custom"] = "custom"
    model_path: str = "./model/"
    modules_to_include: frozenset[str] = frozenset({"*.py"})
