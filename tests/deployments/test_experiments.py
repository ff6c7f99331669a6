"""Experiments on real Serve: A/B random and key splits, shadow deploys, validations."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from support.sdk_modes import client_in_both_modes

from joey.deployments.routing import hash_branches
from joey.errors import PipelineConfigError, ValidationFailedError
from joey.framework import Framework
from joey.tables import ARROW_FILE, read_body, write_body
from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray

ROWS = 40


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _x(rows: int = ROWS, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, 29)).astype(np.float32)


def _split_names(result: pa.Table) -> list[str]:
    return [json.loads(cell[0])["model_version"]["name"] for cell in result.column("out._model_split").to_pylist()]


def _score(result: pa.Table, column: str = "out.dense_1") -> np.ndarray:
    return np.asarray(result.column(column).to_pylist(), dtype=np.float32).reshape(-1)


client = client_in_both_modes()


@pytest.fixture
def three(client, tmp_path: Path):
    """Three fraud-style models with different weights; each tells its own answers apart."""
    paths = {name: mlp(tmp_path / f"{name}.onnx", seed=seed) for name, seed in
             (("control", 0), ("challenger-a", 1), ("challenger-b", 2))}
    models = {name: client.upload_model(name, path).configure(tensor_fields=["tensor"])
              for name, path in paths.items()}
    return models, paths


def _expected(paths: dict[str, Path], x: np.ndarray) -> dict[str, np.ndarray]:
    return {name: run_onnx(path, {"dense_input": x})["dense_1"].reshape(-1) for name, path in paths.items()}


def test_definition_has_wallaroos_shape(client, three) -> None:
    import polars as pl

    models, _ = three
    control, a, b = models["control"], models["challenger-a"], models["challenger-b"]
    pipeline = client.build_pipeline("shapes")
    pipeline.add_random_split([(2, control), (1, a)], "session_id")
    pipeline.add_key_split(control, "region", {"eu": a, "us": b})
    pipeline.add_shadow_deploy(control, [b, a])
    with pytest.warns(UserWarning, match="'count' is not a valid name for a validation"):
        pipeline.add_validations(fraud=pl.col("out.dense_1").list.get(0) > 0.9, count=pl.col("x") > 1)
    ref = {"name": "control", "version": control.version(), "sha": control.sha()}
    steps = pipeline.steps()
    assert steps[0] == {"RandomSplit": {"hash_key": "session_id", "weights": [
        {"model": ref, "weight": 2}, {"model": {"name": "challenger-a", "version": a.version(), "sha": a.sha()},
                                      "weight": 1}]}}
    assert steps[1]["MetaValueSplit"]["split_key"] == "region"
    assert steps[1]["MetaValueSplit"]["control"] == ref
    assert list(steps[1]["MetaValueSplit"]["routes"]) == ["eu", "us"]
    assert [m["name"] for m in steps[2]["ModelInference"]["models"]] == ["control", "challenger-b", "challenger-a"]
    assert steps[3] == {"AuditResults": {"from": 1, "to": None}} and steps[4] == {"MultiOut": {}}
    (tree,) = steps[5]["Check"]["tree"]
    assert pl.Expr.deserialize(io.StringIO(tree), format="json").meta.output_name() == "fraud"
    assert json.loads(pipeline.definition()) == steps
    # replace_with_* twins; a shadow deploy is replaced as a whole
    pipeline.replace_with_shadow_deploy(2, a, [b])
    assert len(pipeline.steps()) == 6
    pipeline.replace_with_model_step(2, b)
    assert [next(iter(s)) for s in pipeline.steps()] == ["RandomSplit", "MetaValueSplit", "ModelInference", "Check"]
    pipeline.replace_with_random_split(0, [(1, a), (1, b)]).replace_with_key_split(1, b, "region", {"eu": control})
    pipeline.replace_with_multi_model_step(2, [a, b]).remove_step(3)
    assert pipeline.steps()[0]["RandomSplit"]["hash_key"] is None
    # editing is local until create_version(); build_pipeline returns the saved steps
    assert client.build_pipeline("shapes").steps() == []
    pipeline.create_version()
    assert client.build_pipeline("shapes").steps() == pipeline.steps()


def test_random_split_draws_one_model_per_request_by_weight(client, three) -> None:
    models, paths = three
    pipeline = client.build_pipeline("ab-request").add_random_split(
        [(2, models["control"]), (1, models["challenger-a"])]).deploy()
    x = _x(4)
    expected = _expected(paths, x)
    seen = []
    for _ in range(600):
        result = pipeline.infer(pa.table({"tensor": _fixed(x)}), dataset=["*", "metadata"])
        names = set(_split_names(result))
        assert len(names) == 1  # one model for the whole request
        (name,) = names
        np.testing.assert_allclose(_score(result), expected[name], rtol=1e-6)
        assert json.loads(result.column("metadata.last_model")[0].as_py())["model_name"] == name
        seen.append(name)
    share = seen.count("control") / len(seen)
    # 2:1 gives 0.667 (sd 0.019 over 600); 1:1 would give 0.5
    assert 0.6 < share < 0.74, share


def test_hash_key_routes_each_row_stably_and_keeps_row_order(client, three) -> None:
    models, paths = three
    pipeline = client.build_pipeline("ab-rows").add_random_split(
        [(1, models["control"]), (1, models["challenger-a"]), (1, models["challenger-b"])], hash_key="session_id"
    ).deploy()
    x = _x(300)
    sessions = pa.array([f"user-{i % 50}" for i in range(300)])
    expected = _expected(paths, x)
    names = ["control", "challenger-a", "challenger-b"]
    wanted = [names[i] for i in hash_branches(sessions, [1, 1, 1])]
    assert len(set(wanted)) == 3

    def check(order: np.ndarray) -> None:
        table = pa.table({"tensor": _fixed(x[order]), "session_id": sessions.take(pa.array(order))})
        result = pipeline.infer(table, dataset=["*", "metadata"])
        got = _split_names(result)
        assert got == [wanted[i] for i in order]  # the same key meets the same model, rows in order
        assert [json.loads(m)["model_name"] for m in result.column("metadata.last_model").to_pylist()] == got
        score = _score(result)
        for row, source in enumerate(order):
            assert score[row] == pytest.approx(expected[got[row]][source], rel=1e-6)

    check(np.arange(300))
    check(np.random.default_rng(5).permutation(300)[:77])
    pipeline.undeploy().deploy()  # after a restart, the same routing
    check(np.arange(300)[::-1])
    # a request without the key column is a 400 naming it
    with pytest.raises(Exception, match="session_id"):
        pipeline.infer(pa.table({"tensor": _fixed(x[:2])}))


def test_key_split_routes_rows_by_value(client, three) -> None:
    models, paths = three
    pipeline = client.build_pipeline("by-region").add_key_split(
        models["control"], "region", {"eu": models["challenger-a"], "us": models["challenger-b"]}).deploy()
    x = _x(6)
    regions = ["eu", "us", "apac", "eu", None, "us"]
    result = pipeline.infer(pa.table({"tensor": _fixed(x), "region": pa.array(regions)}))
    route = {"eu": "challenger-a", "us": "challenger-b"}
    wanted = [route.get(r, "control") for r in regions]  # unknown values and nulls: the default
    assert _split_names(result) == wanted
    expected = _expected(paths, x)
    np.testing.assert_allclose(_score(result), [expected[n][i] for i, n in enumerate(wanted)], rtol=1e-6)


RAISING = '''
def process_data(input_data):
    raise RuntimeError("challenger broke")
'''

SLEEPING = '''
import time
import numpy as np


def process_data(input_data):
    time.sleep(3)
    return {"dense_1": np.ones((len(input_data["tensor"]), 1), dtype=np.float32)}
'''


def _python_model(client, tmp_path: Path, name: str, source: str):
    import zipfile

    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("step.py", source)
    return client.upload_model(
        name, path, framework=Framework.PYTHON,
        input_schema=pa.schema([pa.field("tensor", pa.list_(pa.float32(), 29))]),
        output_schema=pa.schema([pa.field("dense_1", pa.list_(pa.float32(), 1))]))


def test_shadow_challengers_never_fail_or_slow_the_champion(client, three, tmp_path: Path) -> None:
    models, paths = three
    raising = _python_model(client, tmp_path, "z-raises", RAISING)
    sleeping = _python_model(client, tmp_path, "b-sleeps", SLEEPING)
    pipeline = client.build_pipeline("shadow").add_shadow_deploy(
        models["control"], [raising, models["challenger-a"], sleeping]).deploy()
    x = _x(5)
    expected = _expected(paths, x)
    result = pipeline.infer(pa.table({"tensor": _fixed(x)}), dataset=["*", "metadata"])
    assert result.column_names[:4] == ["time", "in.tensor", "out.dense_1", "anomaly.count"]
    assert result.column_names[4:7] == ["out_b-sleeps.dense_1", "out_challenger-a.dense_1", "out_z-raises.dense_1"]
    np.testing.assert_allclose(_score(result), expected["control"], rtol=1e-6)
    np.testing.assert_allclose(_score(result, "out_challenger-a.dense_1"), expected["challenger-a"], rtol=1e-6)
    # the sleeper would have answered ones after 3 s: it was dropped, not waited for
    assert result.column("out_b-sleeps.dense_1").null_count == 5
    assert result.column("out_z-raises.dense_1").null_count == 5
    assert sorted(result.column("metadata.dropped")[0].as_py()) == ["b-sleeps", "z-raises"]
    # HTTP answers nested, challengers as their own groups
    response = httpx.post(pipeline.url(), content=write_body(pa.table({"tensor": _fixed(x)}), "arrow")[0],
                          headers={"Content-Type": ARROW_FILE, **client.auth.auth_header()}, timeout=30)
    assert response.status_code == 200
    nested = read_body(response.content, "arrow")
    assert "out_challenger-a" in nested.column_names


def test_validations_flag_anomalies(client, three) -> None:
    import polars as pl

    models, paths = three
    x = _x(30)
    score = _expected(paths, x)["control"]
    threshold = float(np.median(score))
    pipeline = client.build_pipeline("checks").add_model_step(models["control"])
    pipeline.add_validations(high=pl.col("out.dense_1").list.get(0) > threshold)
    pipeline.add_validations(first_negative=pl.col("in.tensor").list.get(0) < 0,
                             always=pl.col("out.dense_1").list.get(0) > -1)
    pipeline.deploy()
    result = pipeline.infer(pa.table({"tensor": _fixed(x)}))
    assert result.column_names[3:] == ["anomaly.count", "anomaly.always", "anomaly.first_negative", "anomaly.high"]
    high = score > threshold
    negative = x[:, 0] < 0
    assert result.column("anomaly.high").to_pylist() == high.tolist()
    assert result.column("anomaly.first_negative").to_pylist() == negative.tolist()
    assert result.column("anomaly.count").type == pa.uint32()
    assert result.column("anomaly.count").to_pylist() == (1 + high + negative).tolist()


def test_a_validation_on_a_column_the_pipeline_cannot_produce_fails_the_deploy(client, three) -> None:
    import polars as pl

    models, _ = three
    pipeline = client.build_pipeline("bad-check").add_model_step(models["control"])
    pipeline.add_validations(nope=pl.col("out.variable").list.get(0) > 1)
    with pytest.raises(PipelineConfigError, match=r"validation 'nope' names \[.out\.variable.\]"):
        pipeline.deploy()


def test_a_validation_failing_at_run_time_is_a_500_naming_it(client, three) -> None:
    import polars as pl

    models, _ = three
    pipeline = client.build_pipeline("oob-check").add_model_step(models["control"])
    pipeline.add_validations(far=pl.col("in.tensor").list.get(100) > 0)
    pipeline.deploy()
    body = write_body(pa.table({"tensor": _fixed(_x(2))}), "arrow")[0]
    response = httpx.post(pipeline.url(), content=body, headers={"Content-Type": ARROW_FILE, **client.auth.auth_header()}, timeout=30)
    assert response.status_code == 500
    assert "validation 'far' failed" in response.json()["error"]
    with pytest.raises(ValidationFailedError, match="far"):
        pipeline.infer(pa.table({"tensor": _fixed(_x(2))}))


def test_status_lists_every_model_of_a_split(client, three) -> None:
    models, _ = three
    pipeline = client.build_pipeline("status-split").add_random_split(
        [(1, models["control"]), (1, models["challenger-a"]), (1, models["challenger-b"])]).deploy()
    status = pipeline.status()
    assert status["status"] == "Running"
    deployed = sorted(m["name"] for e in status["engines"] for m in e["model_statuses"]["models"])
    assert deployed == ["challenger-a", "challenger-b", "control"]
    assert len(status["engine_lbs"]) == 1
