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
    MLFLOW = "mlflow"
    """joey's own member: an MLflow model directory or ``models:/`` URI (Wallaroo registers
    MLflow models as container images instead)."""
    HUGGING_FACE_AUTOMATIC_SPEECH_RECOGNITION = "hugging-face-automatic-speech-recognition"
    HUGGING_FACE_FEATURE_EXTRACTION = "hugging-face-feature-extraction"
    HUGGING_FACE_IMAGE_CLASSIFICATION = "hugging-face-image-classification"
    HUGGING_FACE_IMAGE_SEGMENTATION = "hugging-face-image-segmentation"
    HUGGING_FACE_IMAGE_TO_TEXT = "hugging-face-image-to-text"
    HUGGING_FACE_OBJECT_DETECTION = "hugging-face-object-detection"
    HUGGING_FACE_QUESTION_ANSWERING = "hugging-face-question-answering"
    HUGGING_FACE_STABLE_DIFFUSION_TEXT_2_IMG = "hugging-face-stable-diffusion-text-2-img"
    HUGGING_FACE_SUMMARIZATION = "hugging-face-summarization"
    HUGGING_FACE_TEXT_CLASSIFICATION = "hugging-face-text-classification"
    HUGGING_FACE_TRANSLATION = "hugging-face-translation"
    HUGGING_FACE_ZERO_SHOT_CLASSIFICATION = "hugging-face-zero-shot-classification"
    HUGGING_FACE_ZERO_SHOT_IMAGE_CLASSIFICATION = "hugging-face-zero-shot-image-classification"
    HUGGING_FACE_ZERO_SHOT_OBJECT_DETECTION = "hugging-face-zero-shot-object-detection"
    HUGGING_FACE_SENTIMENT_ANALYSIS = "hugging-face-sentiment-analysis"
    HUGGING_FACE_TEXT_GENERATION = "hugging-face-text-generation"
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
