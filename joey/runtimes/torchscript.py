"""PyTorch TorchScript models run in torch (runtime ``flight``) when they do not convert.

Inputs are ``input`` (one) or ``input_1..n`` (several, in ``forward`` order); outputs
``output`` or ``output_1..n``, as the schemas name them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.spec import TensorField


class TorchScriptRuntime(Runtime):
    """``torch.jit.load`` on CPU (or CUDA when present), evaluated without autograd."""

    name = "flight"
    config_type = SchemaConfig

    def __init__(self) -> None:
        self._module: object = None
        self._inputs: tuple[TensorField, ...] = ()
        self._outputs: tuple[TensorField, ...] = ()

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        import torch

        assert isinstance(config, SchemaConfig)
        self._inputs, self._outputs = config.inputs, config.outputs
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        module = torch.jit.load(str(artifact), map_location=self._device)
        module.eval()
        self._module = module

    def signature(self) -> tuple[tuple[TensorField, ...], tuple[TensorField, ...]]:
        return self._inputs, self._outputs

    def predict(self, data: InferenceData) -> InferenceData:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(data[f.name])).to(self._device) for f in self._inputs]
        with torch.inference_mode():
            result = self._module(*args)  # type: ignore[operator]
        tensors = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(tensors) != len(self._outputs):
            raise ValueError(f"forward returned {len(tensors)} tensors for {len(self._outputs)} outputs")
        return {
            f.name: t.detach().cpu().numpy().astype(f.dtype, copy=False)
            for f, t in zip(self._outputs, tensors, strict=True)
        }
