"""The benchmark's models, built on the spot as ONNX files (nothing is downloaded).

- ``ccfraud``: joey's fraud-style MLP (29 -> 16 -> 1): tiny, so serving overhead dominates.
- ``aloha``: the Aloha DGA-detector shape (char embedding -> 1-D conv -> LSTM -> 15 sigmoid
  heads) with random weights: heavy enough per row that compute dominates at large batches.
- the three-step chain's models: 29 -> 29, 29 -> 29, 29 -> 1 MLPs with distinct names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
from onnx import TensorProto, helper, numpy_helper

from joey.testing.onnx_models import mlp

OPSET = [helper.make_opsetid("", 17)]

ALOHA_HEADS = (
    "banjori", "corebot", "cryptolocker", "dircrypt", "gozi", "kraken", "locky", "main",
    "matsnu", "pykspa", "qakbot", "ramdo", "ramnit", "simda", "suppobox",
)
ALOHA_SEQ = 50
ALOHA_VOCAB = 128
ALOHA_EMBED = 32
ALOHA_CONV = 64
ALOHA_HIDDEN = 96


@dataclass(frozen=True)
class BenchModel:
    """One model file plus what the paths need to feed it."""

    name: str
    path: Path
    input_name: str          # the ONNX input
    column: str              # the request column joey reads (tensor_fields) and the peer reads
    width: int               # values per row
    outputs: tuple[str, ...]
    params: int
    tensor_fields: list[str] | None = None
    notes: dict[str, object] = field(default_factory=dict)

    def rows(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` request rows as float32 [n, width] (character indices for aloha)."""
        rng = np.random.default_rng(seed)
        if self.name == "aloha":
            return rng.integers(0, ALOHA_VOCAB, size=(n, self.width)).astype(np.float32)
        return rng.normal(size=(n, self.width)).astype(np.float32)

    def table(self, n: int, seed: int = 0) -> pa.Table:
        """The same rows as an Arrow table with one fixed-size-list column."""
        return rows_to_table(self.rows(n, seed), self.column)


def rows_to_table(rows: np.ndarray, column: str) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(rows).reshape(-1))
    return pa.table({column: pa.FixedSizeListArray.from_arrays(flat, rows.shape[1])})


def param_count(path: Path) -> int:
    model = onnx.load(str(path))
    return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))


def ccfraud(directory: Path) -> BenchModel:
    path = mlp(directory / "ccfraud.onnx", n_in=29, hidden=16, n_out=1)
    return BenchModel("ccfraud", path, "dense_input", "tensor", 29, ("dense_1",),
                      param_count(path), tensor_fields=["tensor"])


def chain(directory: Path) -> list[tuple[str, Path, list[str]]]:
    """(model name, file, tensor_fields) for the three chained steps: 29 -> 29 -> 29 -> 1."""
    first = mlp(directory / "chain1.onnx", n_in=29, n_out=29, output_name="o1", seed=11)
    second = mlp(directory / "chain2.onnx", n_in=29, n_out=29, input_name="i2", output_name="o2",
                 seed=12)
    third = mlp(directory / "chain3.onnx", n_in=29, n_out=1, input_name="i3",
                output_name="dense_1", seed=13)
    return [("chain-1", first, ["tensor"]), ("chain-2", second, ["o1"]),
            ("chain-3", third, ["o2"])]


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def aloha_graph(seed: int = 0, hidden: int = ALOHA_HIDDEN, conv: int = ALOHA_CONV,
                embed: int = ALOHA_EMBED, vocab: int = ALOHA_VOCAB) -> onnx.ModelProto:
    """text_input float32 [N,50] (char indices) -> 15 heads float32 [N,1]."""
    rng = np.random.default_rng(seed)

    def normal(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return rng.normal(0, scale, shape).astype(np.float32)

    inits = [
        _init("embedding", normal((vocab, embed), 0.5)),
        _init("conv_w", normal((conv, embed, 3), 1.0 / np.sqrt(embed * 3))),
        _init("conv_b", normal((conv,), 0.05)),
        _init("lstm_w", normal((1, 4 * hidden, conv), 1.0 / np.sqrt(conv))),
        _init("lstm_r", normal((1, 4 * hidden, hidden), 1.0 / np.sqrt(hidden))),
        _init("lstm_b", normal((1, 8 * hidden), 0.05)),
        _init("squeeze_axes", np.array([0], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Cast", ["text_input"], ["chars"], to=TensorProto.INT64),
        helper.make_node("Gather", ["embedding", "chars"], ["embedded"], axis=0),   # [N,50,E]
        helper.make_node("Transpose", ["embedded"], ["channels_first"], perm=[0, 2, 1]),
        helper.make_node("Conv", ["channels_first", "conv_w", "conv_b"], ["conv_out"],
                         kernel_shape=[3], pads=[1, 1]),                            # [N,C,50]
        helper.make_node("Relu", ["conv_out"], ["conv_relu"]),
        helper.make_node("Transpose", ["conv_relu"], ["sequence"], perm=[2, 0, 1]),  # [50,N,C]
        helper.make_node("LSTM", ["sequence", "lstm_w", "lstm_r", "lstm_b"], ["", "y_h"],
                         hidden_size=hidden),                                       # y_h [1,N,H]
        helper.make_node("Squeeze", ["y_h", "squeeze_axes"], ["last"]),             # [N,H]
    ]
    outputs = []
    for head in ALOHA_HEADS:
        inits += [_init(f"{head}_w", normal((hidden, 1), 1.0 / np.sqrt(hidden))),
                  _init(f"{head}_b", normal((1,), 0.05))]
        nodes += [
            helper.make_node("MatMul", ["last", f"{head}_w"], [f"{head}_mm"]),
            helper.make_node("Add", [f"{head}_mm", f"{head}_b"], [f"{head}_logit"]),
            helper.make_node("Sigmoid", [f"{head}_logit"], [head]),
        ]
        outputs.append(helper.make_tensor_value_info(head, TensorProto.FLOAT, ["N", 1]))
    graph = helper.make_graph(
        nodes, "aloha",
        [helper.make_tensor_value_info("text_input", TensorProto.FLOAT, ["N", ALOHA_SEQ])],
        outputs, inits,
    )
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="joey-benchmarks")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def aloha(directory: Path) -> BenchModel:
    path = directory / "aloha.onnx"
    onnx.save(aloha_graph(), str(path))
    return BenchModel("aloha", path, "text_input", "text_input", ALOHA_SEQ, ALOHA_HEADS,
                      param_count(path),
                      notes={"vocab": ALOHA_VOCAB, "embed": ALOHA_EMBED, "conv": ALOHA_CONV,
                             "lstm_hidden": ALOHA_HIDDEN, "seq": ALOHA_SEQ})


def verify(model: BenchModel, threads: int) -> None:
    """The file loads in onnxruntime and answers one [N, 1]-or-wider output per name."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if tuple(names) != model.outputs:
        raise AssertionError(f"{model.name}: outputs {names} != {model.outputs}")
    results = session.run(None, {model.input_name: model.rows(3)})
    for name, array in zip(names, results, strict=True):
        if array.shape[0] != 3 or not np.isfinite(array).all():
            raise AssertionError(f"{model.name}.{name}: bad output {array.shape}")


def aloha_savedmodel(directory: Path, seed: int = 0) -> Path:
    """The same Aloha architecture built in Keras (random weights), exported as a zipped
    TensorFlow SavedModel, as a user would upload it with ``Framework.TENSORFLOW``."""
    import shutil
    import zipfile

    import keras

    keras.utils.set_random_seed(seed)
    text = keras.Input((ALOHA_SEQ,), name="text_input", dtype="float32")
    x = keras.layers.Embedding(ALOHA_VOCAB, ALOHA_EMBED)(keras.ops.cast(text, "int32"))
    x = keras.layers.Conv1D(ALOHA_CONV, 3, activation="relu")(x)
    x = keras.layers.LSTM(ALOHA_HIDDEN)(x)
    heads = {name: keras.layers.Dense(1, activation="sigmoid", name=name)(x) for name in ALOHA_HEADS}
    model = keras.Model(text, heads)
    folder = directory / "aloha-savedmodel"
    model.export(str(folder), format="tf_saved_model", verbose=False)
    path = directory / "aloha-savedmodel.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in folder.rglob("*"):
            if file.is_file():
                archive.write(file, f"aloha/{file.relative_to(folder)}")
    shutil.rmtree(folder)
    return path
