"""Tiny scikit-learn, XGBoost and TorchScript models trained on the spot, with their schemas."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa


@dataclass
class Trained:
    """A model file, its framework, schemas, and the framework's own predictions on ``x``."""

    path: Path
    framework: str
    input_schema: pa.Schema
    output_schema: pa.Schema
    x: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


def _data(features: int, rows: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)


def _pickle(obj: Any, path: Path) -> Path:
    with path.open("wb") as handle:
        pickle.dump(obj, handle)
    return path


def _inputs(width: int, dtype: pa.DataType) -> pa.Schema:
    return pa.schema([pa.field("inputs", pa.list_(dtype, width))])


def sklearn_logreg(directory: Path) -> Trained:
    from sklearn.linear_model import LogisticRegression

    x, y = _data(4)
    model = LogisticRegression().fit(x, y)
    return Trained(
        _pickle(model, directory / "logreg.pkl"), "sklearn", _inputs(4, pa.float64()),
        pa.schema([pa.field("predictions", pa.int32()), pa.field("probabilities", pa.list_(pa.float64(), 3))]),
        {"inputs": x[:20]},
        {"predictions": model.predict(x[:20]).astype(np.int32), "probabilities": model.predict_proba(x[:20])},
    )


def sklearn_unconvertible(directory: Path) -> Trained:
    """A pipeline with a Python function inside: skl2onnx cannot convert it, so it runs as-is."""
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    x, _ = _data(4, seed=1)
    model = make_pipeline(FunctionTransformer(np.tanh), LinearRegression()).fit(x, x[:, 0] * 2)
    return Trained(
        _pickle(model, directory / "tanh_linreg.pkl"), "sklearn", _inputs(4, pa.float64()),
        pa.schema([pa.field("predictions", pa.float64())]),
        {"inputs": x[:20]}, {"predictions": model.predict(x[:20])},
    )


def xgboost_classifier(directory: Path) -> Trained:
    import xgboost

    x, y = _data(4, seed=2)
    x = x.astype(np.float32)
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(x, y)
    return Trained(
        _pickle(model, directory / "xgb_classifier.pkl"), "xgboost", _inputs(4, pa.float32()),
        pa.schema([pa.field("predictions", pa.int64()), pa.field("probabilities", pa.list_(pa.float32(), 3))]),
        {"inputs": x[:20]},
        {"predictions": model.predict(x[:20]).astype(np.int64), "probabilities": model.predict_proba(x[:20])},
    )


def xgboost_booster(directory: Path) -> Trained:
    """A raw ``Booster`` (regression), as Wallaroo's tutorials pickle them."""
    import xgboost

    x, _ = _data(10, seed=3)
    x = x.astype(np.float32)
    booster = xgboost.train({"max_depth": 3}, xgboost.DMatrix(x, label=x[:, 0] * 3), num_boost_round=8)
    return Trained(
        _pickle(booster, directory / "booster.pkl"), "xgboost", _inputs(10, pa.float32()),
        pa.schema([pa.field("predictions", pa.float32())]),
        {"inputs": x[:20]}, {"predictions": booster.predict(xgboost.DMatrix(x[:20]))},
    )


def torchscript_single_io(directory: Path, dtype: str = "float32") -> Trained:
    """Linear(10,20)-ReLU-Linear(20,1) as TorchScript; float64 weights cannot convert to ONNX."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 1))
    module = module.to(getattr(torch, dtype))
    scripted = torch.jit.script(module)
    path = directory / f"single_io_{dtype}.pt"
    scripted.save(str(path))
    x = np.random.default_rng(4).normal(size=(20, 10)).astype(dtype)
    with torch.inference_mode():
        expected = scripted(torch.from_numpy(x)).numpy()
    arrow = pa.float32() if dtype == "float32" else pa.float64()
    return Trained(
        path, "pytorch", pa.schema([pa.field("input", pa.list_(arrow, 10))]),
        pa.schema([pa.field("output", pa.list_(arrow, 1))]), {"input": x}, {"output": expected},
    )


def torchscript_multi_io(directory: Path) -> Trained:
    """forward(x1, x2): cat -> Linear(15,20) -> ReLU -> (Linear(20,3), Linear(20,2))."""
    import torch

    class MultiIO(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(15, 20)
            self.fc2 = torch.nn.Linear(20, 3)
            self.fc3 = torch.nn.Linear(20, 2)

        def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = torch.relu(self.fc1(torch.cat([x1, x2], dim=1)))
            return self.fc2(hidden), self.fc3(hidden)

    torch.manual_seed(1)
    scripted = torch.jit.script(MultiIO())
    path = directory / "multi_io.pt"
    scripted.save(str(path))
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=(20, 10)).astype(np.float32)
    x2 = rng.normal(size=(20, 5)).astype(np.float32)
    with torch.inference_mode():
        out1, out2 = scripted(torch.from_numpy(x1), torch.from_numpy(x2))
    return Trained(
        path, "pytorch",
        pa.schema([pa.field("input_1", pa.list_(pa.float32(), 10)), pa.field("input_2", pa.list_(pa.float32(), 5))]),
        pa.schema([pa.field("output_1", pa.list_(pa.float32(), 3)), pa.field("output_2", pa.list_(pa.float32(), 2))]),
        {"input_1": x1, "input_2": x2}, {"output_1": out1.numpy(), "output_2": out2.numpy()},
    )


def keras_sequential(directory: Path, suffix: str = ".h5") -> Trained:
    """Wallaroo's auto-conversion Keras example: Input [10] -> Dense(32, softmax), float64 schema."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10,), name="input"), keras.layers.Dense(32, activation="softmax")])
    path = directory / f"keras_sequential{suffix}"
    model.save(str(path))
    x = np.random.default_rng(6).normal(size=(20, 10))
    expected = np.asarray(model(x.astype(np.float32), training=False)).astype(np.float64)
    return Trained(
        path, "keras", pa.schema([pa.field("input", pa.list_(pa.float64(), 10))]),
        pa.schema([pa.field("output", pa.list_(pa.float64(), 32))]), {"input": x}, {"output": expected},
    )


def tensorflow_savedmodel(directory: Path, convertible: bool = True) -> Trained:
    """A SavedModel zip (with ``__MACOSX/`` junk) whose serving signature has three outputs.

    ``convertible=False`` adds ``igamma``, which onnxruntime cannot run, so it stays TensorFlow.
    """
    import shutil
    import zipfile

    import tensorflow as tf

    weights = np.random.default_rng(7).normal(size=(50, 3)).astype(np.float32)

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(weights)

        @tf.function(input_signature=[tf.TensorSpec((None, 50), tf.float32, name="text_input")])
        def serve(self, text_input: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = tf.matmul(text_input, self.w)
            if not convertible:
                logits = logits + tf.math.igamma(tf.abs(logits) + 1.0, tf.abs(logits) + 1.0)
            return {"zeta": tf.sigmoid(logits[:, :1]), "alpha": tf.sigmoid(logits[:, 1:2]),
                    "main": tf.sigmoid(logits[:, 2:3])}

    module = Scorer()
    folder = directory / "scorer"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    path = directory / "scorer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in folder.rglob("*"):
            if file.is_file():
                archive.write(file, f"scorer/{file.relative_to(folder)}")
        archive.writestr("__MACOSX/scorer/._saved_model.pb", b"junk")
    shutil.rmtree(folder)
    x = np.random.default_rng(8).normal(size=(20, 50)).astype(np.float32)
    expected = {k: v.numpy() for k, v in module.serve(tf.constant(x)).items()}
    empty = pa.schema([])
    return Trained(path, "tensorflow", empty, empty, {"text_input": x}, expected)
