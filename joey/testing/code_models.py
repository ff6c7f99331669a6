"""BYOP zips and Python steps written on the spot (Wallaroo ``mac`` style)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyarrow as pa

BYOP_SOURCE = '''
from typing import Any, Set
import numpy as np
from mac.config.inference import CustomInferenceConfig
from mac.inference import Inference
from mac.inference.creation import InferenceBuilder
from mac.types import InferenceData


class ScaleInference(Inference):
    @property
    def expected_model_types(self) -> Set[Any]:
        return {{dict}}

    @Inference.model.setter
    def model(self, model) -> None:
        self._raise_error_if_model_is_wrong_type(model)
        self._model = model

    def _predict(self, input_data: InferenceData) -> InferenceData:
        scores = np.asarray(input_data["{input}"]).reshape(len(input_data["{input}"]), -1)
        return {{"prediction": (scores[:, 0] * self.model["scale"]).astype(np.float32)}}


class ScaleInferenceBuilder(InferenceBuilder):
    @property
    def inference(self) -> ScaleInference:
        return ScaleInference()

    def create(self, config: CustomInferenceConfig) -> ScaleInference:
        inference = self.inference
        text = (config.model_path / "artifacts" / "scale.txt").read_text()
        inference.model = {{"scale": float(text)}}
        return inference
'''

PROCESS_DATA_SOURCE = '''
import numpy as np


def process_data(input_data):
    values = np.asarray(input_data["raw"], dtype=np.float32)
    return {"tensor": np.tanh(values)}
'''


def byop_zip(path: Path, scale: float = 3.0, input_name: str = "dense_1", *,
             source: str | None = None, requirements: str | None = "",
             extra_files: dict[str, str] | None = None) -> Path:
    """A BYOP zip whose model multiplies the first value of ``input_name`` by ``scale``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.py", source if source is not None else BYOP_SOURCE.format(input=input_name))
        archive.writestr("artifacts/scale.txt", str(scale))
        if requirements is not None:
            archive.writestr("requirements.txt", requirements)
        for name, text in (extra_files or {}).items():
            archive.writestr(name, text)
    return path


BYOP_OUTPUT_SCHEMA = pa.schema([pa.field("prediction", pa.float32())])


def python_step(path: Path, source: str = PROCESS_DATA_SOURCE) -> Path:
    """A Python step zip: ``tensor = tanh(raw)`` (29 floats)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("step.py", source)
    return path


PYTHON_STEP_INPUT = pa.schema([pa.field("raw", pa.list_(pa.float64(), 29))])
PYTHON_STEP_OUTPUT = pa.schema([pa.field("tensor", pa.list_(pa.float32(), 29))])
