"""Tiny MLflow models saved on the spot (no network): plain folders and a sqlite registry.

Every builder pins ``pip_requirements`` to what is installed, so that the saved
``requirements.txt`` is known, and logs sklearn with cloudpickle (``skops``, the default,
is not in ``mlflow-skinny``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
IRIS_MODEL = "iris-lr"
IRIS_ALIAS = "champion"


def _pins(*distributions: str) -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in distributions]


def iris_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """The iris features as a DataFrame of four double columns, and the labels."""
    from sklearn.datasets import load_iris

    features, labels = load_iris(return_X_y=True)
    return pd.DataFrame(features, columns=list(IRIS_COLUMNS)), np.asarray(labels)


def _iris_classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    features, labels = iris_frame()
    return LogisticRegression(max_iter=1000).fit(features, labels)


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide MLflow's pickle-format and type-hint advice while saving."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def sklearn_iris(tmp: Path) -> Path:
    """LogisticRegression on iris: four named double columns in, ``int64`` labels out."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    features, _ = iris_frame()
    model = _iris_classifier()
    target = tmp / "iris-lr"
    with _quiet():
        mlflow.sklearn.save_model(
            model, str(target), serialization_format="cloudpickle",
            signature=infer_signature(features, model.predict(features)),
            pip_requirements=_pins("scikit-learn", "cloudpickle", "numpy", "pandas"))
    return target


def sklearn_tensor_proba(tmp: Path) -> Path:
    """The iris classifier fed one float32 ``(-1, 4)`` tensor, answering ``predict_proba``:
    a tensor signature on both sides."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame, labels = iris_frame()
    features = frame.to_numpy(dtype=np.float32)
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    target = tmp / "iris-proba"
    with _quiet():
        mlflow.sklearn.save_model(
            model, str(target), serialization_format="cloudpickle",
            pyfunc_predict_fn="predict_proba",
            signature=infer_signature(features, model.predict_proba(features)),
            pip_requirements=_pins("scikit-learn", "cloudpickle", "numpy"))
    return target


def sklearn_without_signature(tmp: Path) -> Path:
    """The iris classifier saved without a signature: the user must give both schemas."""
    import mlflow.sklearn

    frame, labels = iris_frame()
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000).fit(frame.to_numpy(), labels)
    target = tmp / "iris-unsigned"
    with _quiet():
        mlflow.sklearn.save_model(model, str(target), serialization_format="cloudpickle",
                                  pip_requirements=_pins("scikit-learn", "cloudpickle"))
    return target


def xgboost_iris(tmp: Path) -> Path:
    """XGBClassifier on the four iris double columns (the xgboost flavor): ``int64`` labels."""
    import mlflow.xgboost
    import xgboost
    from mlflow.models import infer_signature

    features, labels = iris_frame()
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(features, labels)
    target = tmp / "iris-xgb"
    with _quiet():
        mlflow.xgboost.save_model(
            model, str(target), signature=infer_signature(features, model.predict(features)),
            pip_requirements=[f"xgboost=={xgboost.__version__}", *_pins("numpy", "pandas")])
    return target


def pytorch_tensor(tmp: Path, serialization_format: str = "pt2") -> Path:
    """A small ``nn.Sequential`` (the pytorch flavor): float32 ``(-1, 4)`` in, ``(-1, 2)``
    out; its requirements pin torch with the local ``+cpu`` tag, as mlflow writes it.
    ``pt2`` (mlflow 3's default: ``torch.export``) or ``pickle`` (the whole module)."""
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model.eval()
    features = iris_frame()[0].to_numpy(dtype=np.float32)
    with torch.no_grad():
        answer = model(torch.from_numpy(features)).numpy()
    target = tmp / f"torch-mlp-{serialization_format}"
    with _quiet():
        mlflow.pytorch.save_model(model, str(target), signature=infer_signature(features, answer),
                                  input_example=features[:5], pip_requirements=_pins("torch", "numpy"),
                                  serialization_format=serialization_format)
    return target


def _python_model_class() -> type:
    import mlflow.pyfunc

    class SumAndScale(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
        """``total = a + b`` and ``scaled = a * factor``: two named output columns."""

        def __init__(self, factor: float = 10.0) -> None:
            self.factor = factor

        def predict(self, context, model_input, params=None):  # noqa: ARG002
            frame = pd.DataFrame(model_input)
            return pd.DataFrame({"total": frame["a"] + frame["b"],
                                 "scaled": frame["a"] * self.factor})

    return SumAndScale


def custom_frame() -> pd.DataFrame:
    """Input rows for ``custom_pyfunc``: ``a`` double, ``b`` long."""
    return pd.DataFrame({"a": [1.0, 2.5, -3.0], "b": np.array([1, 2, 3], dtype=np.int64)})


def custom_pyfunc(tmp: Path, pinned_six: str = "1.16.0") -> Path:
    """A custom ``PythonModel`` (no flavor to convert) that needs ``six==<pinned_six>``."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    frame = custom_frame()
    target = tmp / "sum-and-scale"
    with _quiet():
        model = _python_model_class()(10.0)
        mlflow.pyfunc.save_model(
            str(target), python_model=model,
            signature=infer_signature(frame, model.predict(None, frame)),
            pip_requirements=[*_pins("pandas", "numpy"), f"six=={pinned_six}"])
    return target


@contextmanager
def _tracking(uri: str) -> Iterator[None]:
    """Point mlflow at ``uri`` for the block only (tests share one process)."""
    import mlflow
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

    previous = mlflow.get_tracking_uri() if is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it


def registered(tmp: Path) -> tuple[str, str]:
    """A sqlite registry holding the iris model as ``iris-lr`` version 1, alias ``champion``:
    (tracking URI, ``models:/iris-lr/1``)."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    tracking_uri = f"sqlite:///{tmp}/mlflow.db"
    features, _ = iris_frame()
    model = _iris_classifier()
    with _tracking(tracking_uri), _quiet():
        experiment = mlflow.create_experiment("joey", artifact_location=f"file://{tmp}/artifacts")
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(
                model, name="model", serialization_format="cloudpickle",
                signature=infer_signature(features, model.predict(features)),
                registered_model_name=IRIS_MODEL,
                pip_requirements=_pins("scikit-learn", "cloudpickle", "numpy", "pandas"))
        version = info.registered_model_version
        MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(
            IRIS_MODEL, IRIS_ALIAS, str(version))
    return tracking_uri, f"models:/{IRIS_MODEL}/{version}"
