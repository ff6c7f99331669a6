"""TensorFlow SavedModels (runtime ``tensorflow``) and Keras files (runtime ``flight``).

A SavedModel arrives as a zip of its folder (``__MACOSX/`` entries ignored); its serving
signature names the inputs, and every output becomes a column, sorted by name. SavedModels
from older TensorFlow 2 releases that the current loader rejects are served through the
TF1-compatible loader (``serve`` tag), which runs the same signature.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.spec import TensorField

logger = logging.getLogger(__name__)


def saved_model_dir(artifact: Path) -> Path:
    """The folder holding ``saved_model.pb``: the artifact itself, or inside its unpacked zip."""
    if artifact.is_dir():
        folder = artifact
    else:
        from joey.runtimes.archive import unpack

        folder = unpack(artifact)
    found = sorted(p.parent for p in folder.rglob("saved_model.pb") if "__MACOSX" not in p.parts)
    if not found:
        raise ValueError(f"no saved_model.pb in {artifact.name}")
    return found[0]


def _field(name: str, spec: Any) -> TensorField:
    dims = list(spec.shape.as_list()) if spec.shape.rank is not None else []
    shape = tuple(d if d is not None and d > 0 else None for d in dims[1:])
    return TensorField(name=name, dtype=np.dtype(spec.dtype.as_numpy_dtype).name, shape=shape)


class TensorFlowConfig(RuntimeConfig):
    signature: str = "serving_default"


class TensorFlowRuntime(Runtime):
    """The SavedModel's serving signature, with all outputs sorted by name."""

    name = "tensorflow"
    config_type = TensorFlowConfig

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        import tensorflow as tf

        assert isinstance(config, TensorFlowConfig)
        folder = saved_model_dir(artifact)
        try:
            loaded = tf.saved_model.load(str(folder))
            function = loaded.signatures[config.signature]
            self._loaded = loaded  # keep the variables alive
            _, kwargs = function.structured_input_signature
            self._inputs = tuple(_field(n, s) for n, s in sorted(kwargs.items()))
            self._outputs = tuple(_field(n, s) for n, s in sorted(function.structured_outputs.items()))
            self._call = lambda feed: {k: v.numpy() for k, v in function(**feed).items()}
        except Exception as exc:
            logger.info("tf.saved_model.load failed (%s); using the TF1-compatible loader", exc)
            self._load_v1(folder, config.signature)

    def _load_v1(self, folder: Path, signature_name: str) -> None:
        import tensorflow as tf

        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph)
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(folder))
        signature = meta.signature_def[signature_name]

        def info_field(name: str, info: Any) -> TensorField:
            dims = [d.size for d in info.tensor_shape.dim]
            dtype = tf.dtypes.as_dtype(info.dtype).as_numpy_dtype
            return TensorField(name=name, dtype=np.dtype(dtype).name,
                               shape=tuple(d if d > 0 else None for d in dims[1:]))

        self._inputs = tuple(info_field(n, i) for n, i in sorted(signature.inputs.items()))
        self._outputs = tuple(info_field(n, i) for n, i in sorted(signature.outputs.items()))
        inputs = {n: i.name for n, i in signature.inputs.items()}
        outputs = {n: i.name for n, i in signature.outputs.items()}
        self._session = session

        def call(feed: InferenceData) -> InferenceData:
            values = session.run(list(outputs.values()), {inputs[k]: v for k, v in feed.items()})
            return dict(zip(outputs, values, strict=True))

        self._call = call

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def predict(self, data: InferenceData) -> InferenceData:
        feed = {f.name: np.asarray(data[f.name], dtype=f.dtype) for f in self._inputs}
        return {k: np.asarray(v) for k, v in self._call(feed).items()}

    def close(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()


class KerasRuntime(Runtime):
    """A Keras ``.h5``/``.keras`` model run in Keras; inputs and outputs as the schemas name them."""

    name = "flight"
    config_type = SchemaConfig

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        import keras

        assert isinstance(config, SchemaConfig)
        self._inputs, self._outputs = config.inputs, config.outputs
        self.model = keras.models.load_model(str(artifact), compile=False)

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def predict(self, data: InferenceData) -> InferenceData:
        args = [np.asarray(data[f.name], dtype=f.dtype) for f in self._inputs]
        result = self.model(args[0] if len(args) == 1 else args, training=False)
        tensors = list(result) if isinstance(result, (list, tuple)) else [result]
        return {f.name: np.asarray(t).astype(f.dtype, copy=False) for f, t in zip(self._outputs, tensors, strict=True)}
