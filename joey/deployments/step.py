"""One model step as a Serve deployment: load the runtime once, answer tensor batches."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from joey.artifacts import fetch_artifact
from joey.errors import JoeyError, ModelError
from joey.runtimes import runtime_class
from joey.spec import ModelSpec
from joey.tables import InferenceData

logger = logging.getLogger(__name__)


class StepDeployment:
    """Runs one model version; input keys are the caller's names (``tensor_fields``)."""

    def __init__(self, model_json: str, cache_dir: str) -> None:
        self._model = ModelSpec.model_validate_json(model_json)
        artifact = fetch_artifact(self._model.artifact_uri, Path(cache_dir))
        cls = runtime_class(self._model.runtime)
        self._runtime = cls()
        self._runtime.load(artifact, cls.parse_config(self._model.runtime_config))
        self._rename = self._model.rename
        logger.info("step %s %s loaded from %s", self._model.name, self._model.version, artifact)

    def predict(self, data: InferenceData) -> InferenceData:
        """Run the model on one batch; a raising model or a bad output is a ModelError."""
        rows = len(next(iter(data.values()))) if data else 0
        feed = {model_name: data[caller] for caller, model_name in self._rename.items()}
        try:
            outputs = self._runtime.predict(feed)
        except JoeyError:
            raise
        except Exception as exc:
            raise ModelError(self._model.name, f"{type(exc).__name__}: {exc}") from exc
        return self._checked(outputs, rows)

    def _checked(self, outputs: InferenceData, rows: int) -> InferenceData:
        checked: InferenceData = {}
        for field in self._model.outputs:
            if field.name not in outputs:
                raise ModelError(self._model.name, f"output {field.name!r} is missing")
            array = np.asarray(outputs[field.name])
            if array.ndim == 0 or array.shape[0] != rows:
                got = array.shape[0] if array.ndim else "a scalar"
                raise ModelError(
                    self._model.name, f"output {field.name!r} has {got} rows for {rows} input rows"
                )
            checked[field.name] = array
        return checked

    def __del__(self) -> None:
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            runtime.close()
