"""Split routing and the composing runner's experiments, without Ray (fake handles)."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pyarrow as pa
import pytest

from joey.deployments.routing import (
    draw_branch,
    hash_branches,
    key_branches,
    merge_rows,
    partition,
    stable_hash,
    take_rows,
)
from joey.deployments.runner import PipelineRunner
from joey.spec import (
    DeploymentSpec,
    KeySplitStep,
    ModelSpec,
    ModelStep,
    RandomSplitStep,
    ShadowStep,
    TensorField,
)
from joey.tables import DatasetFilter


def test_stable_hash_is_pinned() -> None:
    # Routing by hash_key must not change between processes, restarts or releases:
    # changing these numbers moves users between the models of a running experiment.
    values = pa.array(["user-1", "user-2", "", "éclair", "42"])
    assert list(map(int, stable_hash(values))) == [
        18085126096556106880, 11461568560910714615, 16294208416658607535,
        10016952762319111052, 9649523835464752235,
    ]
    assert stable_hash(pa.array([42]))[0] == stable_hash(pa.array(["42"]))[0]  # a key's text decides
    assert stable_hash(pa.chunked_array([["user-1"], ["user-2"]])).tolist() == stable_hash(values[:2]).tolist()
    sliced = pa.array(["x", "user-2", "user-1"]).slice(1)
    assert stable_hash(sliced).tolist() == stable_hash(pa.array(["user-2", "user-1"])).tolist()


def test_hash_branches_follow_the_weights() -> None:
    keys = pa.array([f"session-{i}" for i in range(30_000)])
    counts = np.bincount(hash_branches(keys, [2, 1, 1]), minlength=3) / 30_000
    np.testing.assert_allclose(counts, [0.5, 0.25, 0.25], atol=0.015)
    assert hash_branches(keys, [0, 1]).tolist() == [1] * 30_000  # a zero weight gets nothing


def test_key_branches_send_unknown_values_and_nulls_to_the_default() -> None:
    column = pa.array(["eu", "us", "apac", None, "eu"])
    assert key_branches(column, {"eu": 2, "us": 1}).tolist() == [2, 1, 0, 0, 2]
    assert key_branches(pa.array([1, 2, 3]), {"2": 1}).tolist() == [0, 1, 0]


def test_partition_and_merge_keep_row_order() -> None:
    branch = np.array([2, 0, 2, 1, 0, 2])
    parts = partition(branch, 3)
    assert [p.tolist() for p in parts] == [[1, 4], [3], [0, 2, 5]]
    data = {"x": np.arange(12, dtype=np.float32).reshape(6, 2)}
    answers = [(rows, {"y": take_rows(data, rows)["x"] * (b + 1)}) for b, rows in enumerate(parts)]
    merged = merge_rows(answers, 6)["y"]
    np.testing.assert_array_equal(merged, data["x"] * (branch + 1)[:, None])


def test_draw_branch_uses_the_weights() -> None:
    rng = random.Random(1)
    draws = [draw_branch([3, 1], rng) for _ in range(4000)]
    assert 0.72 < draws.count(0) / 4000 < 0.78


# --------------------------------------------------------------------------- runner


def _model(name: str) -> ModelSpec:
    return ModelSpec(name=name, version=f"{name}-v", sha=name * 8, framework="onnx", runtime="onnx",
                     artifact_uri=f"/a/{name}.onnx", file_name=f"{name}.onnx",
                     inputs=(TensorField(name="x", dtype="float32", shape=(2,)),),
                     outputs=(TensorField(name="y", dtype="float32", shape=(1,)),))


class Fake:
    """A model handle: y = x[:, :1] * factor, optionally slow or broken."""

    def __init__(self, factor: float, delay_s: float = 0.0, broken: bool = False) -> None:
        self.factor, self.delay_s, self.broken = factor, delay_s, broken
        self.rows: list[int] = []
        self.predict = self

    async def remote(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.rows.append(len(data["x"]))
        await asyncio.sleep(self.delay_s)
        if self.broken:
            raise RuntimeError("broken challenger")
        return {"y": data["x"][:, :1] * self.factor}


def _spec(step: object, grace_ms: float = 50.0) -> DeploymentSpec:
    return DeploymentSpec(workspace="w", pipeline="p", pipeline_version="v1", steps=(step,),
                          cache_dir="/tmp", shadow_grace_ms=grace_ms)


X = np.arange(12, dtype=np.float32).reshape(6, 2)


def _run(runner: PipelineRunner, table: pa.Table) -> pa.Table:
    return asyncio.run(runner.run(table, DatasetFilter(("*", "metadata"))))


def _table(**extra: list[str]) -> pa.Table:
    return pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 2), **extra})


def test_key_split_calls_each_model_once_with_its_rows() -> None:
    step = KeySplitStep(branches=tuple(ModelStep(model=_model(n)) for n in ("a", "b", "c")),
                        meta_key="k", routes={"b": 1, "c": 2})
    handles = [Fake(1), Fake(10), Fake(100)]
    result = _run(PipelineRunner(_spec(step), handles, "p"), _table(k=["b", "c", "z", "b", "a", "c"]))
    assert [h.rows for h in handles] == [[2], [2], [2]]  # one call each, concurrently
    factors = np.array([10, 100, 1, 10, 1, 100], dtype=np.float32)
    assert result.column("out.y").to_pylist() == [[v] for v in (X[:, 0] * factors).tolist()]
    assert result.column_names.index("out._model_split") < result.column_names.index("out.y")


def test_per_request_split_calls_one_model_with_every_row() -> None:
    step = RandomSplitStep(branches=(ModelStep(model=_model("a")), ModelStep(model=_model("b"))),
                           weights=(0.0, 1.0))
    handles = [Fake(1), Fake(10)]
    result = _run(PipelineRunner(_spec(step), handles, "p"), _table())
    assert handles[0].rows == [] and handles[1].rows == [6]
    assert set(result.column("metadata.last_model").to_pylist()) == {'{"model_name":"b","model_sha":"bbbbbbbb"}'}


def test_shadow_drops_late_and_broken_challengers_after_the_grace() -> None:
    step = ShadowStep(branches=tuple(ModelStep(model=_model(n)) for n in ("champ", "slow", "broken", "ok")))
    handles = [Fake(1), Fake(2, delay_s=5.0), Fake(3, broken=True), Fake(4, delay_s=0.01)]
    result = _run(PipelineRunner(_spec(step, grace_ms=200), handles, "p"), _table())
    assert result.column("out.y").to_pylist() == [[v] for v in X[:, 0].tolist()]
    assert result.column("out_ok.y").to_pylist() == [[v] for v in (X[:, 0] * 4).tolist()]
    assert result.column("out_slow.y").null_count == 6 and result.column("out_broken.y").null_count == 6
    assert sorted(result.column("metadata.dropped")[0].as_py()) == ["broken", "slow"]


def test_a_failing_champion_fails_the_request() -> None:
    step = ShadowStep(branches=(ModelStep(model=_model("champ")), ModelStep(model=_model("other"))))
    with pytest.raises(RuntimeError, match="broken"):
        _run(PipelineRunner(_spec(step), [Fake(1, broken=True), Fake(2)], "p"), _table())
