"""scikit-learn and XGBoost pickles run in their own library (runtime ``flight``).

Input is one list column (``inputs``) in the model's feature order; outputs follow the
output schema: ``predictions`` from ``predict``, ``probabilities`` from ``predict_proba``.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.spec import TensorField


def pickled_version(raw: bytes, library: str) -> str | None:
    """The library version a pickle was written with, when it records one (scikit-learn does)."""
    if library != "scikit-learn":
        return None
    match = re.search(rb"_sklearn_version.{1,6}?\x8c.([0-9][0-9a-z.+-]*)", raw, re.S)
    return match.group(1).decode() if match else None


def load_pickle(path: Path, library: str, version: str) -> tuple[Any, list[str]]:
    """Unpickle, keeping version-mismatch warnings; a failure names both versions when known."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with path.open("rb") as handle:
                model = pickle.load(handle)
        except Exception as exc:
            seen = "; ".join(str(w.message) for w in caught)
            written = pickled_version(path.read_bytes(), library)
            origin = f" written by {library} {written}" if written else ""
            raise ValueError(
                f"{library} {version} cannot load this pickle{origin} ({type(exc).__name__}: {exc})"
                + (f"; {seen}" if seen else "")
            ) from exc
    return model, [f"warning: {w.message}" for w in caught]


class _PickledRuntime(Runtime):
    name = "flight"
    config_type = SchemaConfig
    library = ""

    def __init__(self) -> None:
        self.model: Any = None
        self.load_log: list[str] = []
        self._inputs: tuple[TensorField, ...] = ()
        self._outputs: tuple[TensorField, ...] = ()

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        assert isinstance(config, SchemaConfig)
        if len(config.inputs) != 1:
            raise ValueError(f"{self.library} models take one input list column, got {len(config.inputs)}")
        self._inputs, self._outputs = config.inputs, config.outputs
        self.model, self.load_log = load_pickle(artifact, self.library, self._version())

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def _version(self) -> str:
        raise NotImplementedError

    def _call(self, method: str, features: np.ndarray) -> np.ndarray:
        return np.asarray(getattr(self.model, method)(features))

    def predict(self, data: InferenceData) -> InferenceData:
        features = data[self._inputs[0].name]
        result: InferenceData = {}
        for field in self._outputs:
            method = "predict_proba" if "prob" in field.name else "predict"
            values = self._call(method, features)
            if method == "predict" and not field.shape and values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            result[field.name] = values.astype(field.dtype) if field.dtype != "string" else values
        return result


class SklearnRuntime(_PickledRuntime):
    """A scikit-learn estimator or pipeline, unpickled with the installed scikit-learn."""

    library = "scikit-learn"

    def _version(self) -> str:
        import sklearn

        return str(sklearn.__version__)


class XGBoostRuntime(_PickledRuntime):
    """An XGBoost model: the scikit-learn API classes or a raw ``Booster``."""

    library = "xgboost"

    def _version(self) -> str:
        import xgboost

        return str(xgboost.__version__)

    def _call(self, method: str, features: np.ndarray) -> np.ndarray:
        import xgboost

        if isinstance(self.model, xgboost.Booster):
            return np.asarray(self.model.predict(xgboost.DMatrix(features)))
        return super()._call(method, features)
