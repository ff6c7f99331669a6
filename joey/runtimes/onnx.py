"""ONNX models on onnxruntime: every numeric dtype, several inputs and outputs, any batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig
from joey.spec import TensorField

# onnxruntime's type strings -> numpy dtype names
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


class OnnxConfig(RuntimeConfig):
    """Threads onnxruntime may use inside one replica (0 = onnxruntime's default).

    Worker threads spin while a call runs (faster on compute-bound models) and stop the
    moment it returns (``session.force_spinning_stop``): an idle pool that kept spinning
    would burn a core for ~40 ms after each call, taken from the proxy and the ingress.
    """

    intra_op_num_threads: int = 0
    inter_op_num_threads: int = 0
    allow_spinning: bool = True


def _field(arg: ort.NodeArg) -> TensorField:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        raise ValueError(f"{arg.name}: unsupported ONNX type {arg.type}")
    dims = list(arg.shape or [])
    inner = tuple(d if isinstance(d, int) and d > 0 else None for d in dims[1:])
    return TensorField(name=arg.name, dtype=dtype, shape=inner)


class OnnxRuntime(Runtime):
    """Runs an ``.onnx`` file with onnxruntime's CPU (or CUDA, when present) provider."""

    name = "onnx"
    config_type = OnnxConfig

    def __init__(self) -> None:
        self._session: ort.InferenceSession | None = None
        self._inputs: tuple[TensorField, ...] = ()
        self._outputs: tuple[TensorField, ...] = ()

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        assert isinstance(config, OnnxConfig)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.intra_op_num_threads
        options.inter_op_num_threads = config.inter_op_num_threads
        spin = "1" if config.allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        options.add_session_config_entry("session.force_spinning_stop", "1")
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self._session = ort.InferenceSession(str(artifact), options, providers=providers)
        self._inputs = tuple(_field(a) for a in self._session.get_inputs())
        self._outputs = tuple(_field(a) for a in self._session.get_outputs())

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def predict(self, data: InferenceData) -> InferenceData:
        assert self._session is not None, "load() first"
        feed = {f.name: _as_dtype(data[f.name], f.dtype) for f in self._inputs}
        results = self._session.run(None, feed)
        return {f.name: np.asarray(r) for f, r in zip(self._outputs, results, strict=True)}

    def close(self) -> None:
        self._session = None


def _as_dtype(array: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "string":
        return array.astype(object, copy=False)
    return np.ascontiguousarray(array, dtype=np.dtype(dtype))
