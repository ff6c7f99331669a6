"""Tiny ONNX models built with onnx.helper, so nothing downloads a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="joey-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def mlp(path: Path, n_in: int = 29, hidden: int = 16, n_out: int = 1, seed: int = 0,
        input_name: str = "dense_input", output_name: str = "dense_1") -> Path:
    """A fraud-style MLP: float32 [N, n_in] -> sigmoid float32 [N, n_out]."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (n_in, hidden)).astype(np.float32)
    b1 = rng.normal(0, 0.1, hidden).astype(np.float32)
    w2 = rng.normal(0, 0.5, (hidden, n_out)).astype(np.float32)
    b2 = rng.normal(0, 0.1, n_out).astype(np.float32)
    # internal names carry a prefix so any input/output name the caller picks stays unique
    nodes = [
        helper.make_node("MatMul", [input_name, "mlp_w1"], ["mlp_h0"]),
        helper.make_node("Add", ["mlp_h0", "mlp_b1"], ["mlp_h1"]),
        helper.make_node("Relu", ["mlp_h1"], ["mlp_h2"]),
        helper.make_node("MatMul", ["mlp_h2", "mlp_w2"], ["mlp_o0"]),
        helper.make_node("Add", ["mlp_o0", "mlp_b2"], ["mlp_o1"]),
        helper.make_node("Sigmoid", ["mlp_o1"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", n_out])],
        [_init("mlp_w1", w1), _init("mlp_b1", b1), _init("mlp_w2", w2), _init("mlp_b2", b2)],
    )
    return _save(graph, path)


def multi_io(path: Path, seed: int = 1) -> Path:
    """input_1 [N,10], input_2 [N,5] -> output_1 [N,3], output_2 [N,2] (float32)."""
    rng = np.random.default_rng(seed)
    wa = rng.normal(0, 0.3, (10, 3)).astype(np.float32)
    wb = rng.normal(0, 0.3, (5, 2)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["input_1", "wa"], ["a"]),
        helper.make_node("Tanh", ["a"], ["output_1"]),
        helper.make_node("MatMul", ["input_2", "wb"], ["output_2"]),
    ]
    graph = helper.make_graph(
        nodes, "multi_io",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["batch", 10]),
         helper.make_tensor_value_info("input_2", TensorProto.FLOAT, ["batch", 5])],
        [helper.make_tensor_value_info("output_1", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("output_2", TensorProto.FLOAT, ["batch", 2])],
        [_init("wa", wa), _init("wb", wb)],
    )
    return _save(graph, path)


def float64_linear(path: Path, seed: int = 2) -> Path:
    """A demand-curve-style linear model in float64: double_input [N,3] -> variable [N,1]."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1.0, (3, 1)).astype(np.float64)
    b = np.array([0.5], dtype=np.float64)
    nodes = [
        helper.make_node("MatMul", ["double_input", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["variable"]),
    ]
    graph = helper.make_graph(
        nodes, "linear64",
        [helper.make_tensor_value_info("double_input", TensorProto.DOUBLE, ["N", 3])],
        [helper.make_tensor_value_info("variable", TensorProto.DOUBLE, ["N", 1])],
        [_init("w", w), _init("b", b)],
    )
    return _save(graph, path)


NUMPY_TO_ONNX = {
    "float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
    "int8": TensorProto.INT8, "int16": TensorProto.INT16, "int32": TensorProto.INT32,
    "int64": TensorProto.INT64, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "bool": TensorProto.BOOL,
}


def identity(path: Path, dtype: str, width: int = 4) -> Path:
    """x [N, width] of ``dtype`` -> y = x (Identity), for every numeric dtype."""
    onnx_type = NUMPY_TO_ONNX[dtype]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], f"identity_{dtype}",
        [helper.make_tensor_value_info("x", onnx_type, ["N", width])],
        [helper.make_tensor_value_info("y", onnx_type, ["N", width])],
    )
    return _save(graph, path)


def reshape_by_three(path: Path) -> Path:
    """x [N, ?] -> reshape to [-1, 3]: raises inside onnxruntime unless N*len is divisible by 3."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "reshape3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "K"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 3])],
        [_init("shape", np.array([-1, 3], dtype=np.int64))],
    )
    return _save(graph, path)


def slow_square(path: Path, width: int = 256, repeats: int = 40) -> Path:
    """x [N, width] -> ``repeats`` chained MatMuls: seconds of work for a few thousand rows."""
    rng = np.random.default_rng(3)
    w = (rng.normal(0, 1.0, (width, width)) / np.sqrt(width)).astype(np.float32)
    nodes = []
    current = "x"
    for i in range(repeats):
        nodes.append(helper.make_node("MatMul", [current, "w"], [f"m{i}"]))
        current = f"m{i}"
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        [_init("w", w)],
    )
    return _save(graph, path)


def run_onnx(path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference: bare onnxruntime on the same file."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))
