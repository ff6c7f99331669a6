"""HTTP on the Serve proxy (127.0.0.1): both content types, nested and flat, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest

from joey import DeploymentConfigBuilder
from joey.errors import InvalidInputError, ModelError
from joey.tables import ARROW_FILE, JSON_RECORDS, read_body, write_body
from joey.testing.onnx_models import mlp, reshape_by_three, slow_square

pytestmark = pytest.mark.ray


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


@pytest.fixture
def fraud(client, tmp_path: Path):
    model = client.upload_model("ccfraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("http-fraud").add_model_step(model).deploy()
    x = np.random.default_rng(4).normal(size=(64, 29)).astype(np.float32)
    return pipeline, x


def _post(url: str, body: bytes, content_type: str, accept: str | None = None,
          params: dict | None = None) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    return httpx.post(url, content=body, headers=headers, params=params or {}, timeout=30)


FLAT = {"dataset.separator": ".", "dataset.exclude[]": "metadata"}


def _without_time(table: pa.Table) -> pa.Table:
    return table.drop_columns(["time"])


def test_flat_arrow_answer_is_the_sdk_answer(fraud) -> None:
    pipeline, x = fraud
    table = pa.table({"tensor": _fixed(x)})
    sdk = pipeline.infer(table)
    body, _ = write_body(table, "arrow")
    answer = _post(pipeline.url(), body, ARROW_FILE, ARROW_FILE, FLAT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == ARROW_FILE
    http = read_body(answer.content, "arrow")
    assert http.schema == sdk.schema
    assert _without_time(http).equals(_without_time(sdk))


def test_flat_json_answer_is_the_sdk_answer(fraud) -> None:
    pipeline, x = fraud
    records = [{"tensor": row.tolist()} for row in x.astype(np.float64)]
    import pandas as pd

    sdk = pipeline.infer(pd.DataFrame(records))
    answer = _post(pipeline.url(), httpx.Request("POST", "/", json=records).content, JSON_RECORDS, params=FLAT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    rows = answer.json()
    assert list(rows[0]) == ["time", "in.tensor", "out.dense_1", "anomaly.count"]
    assert isinstance(rows[0]["time"], int)
    np.testing.assert_allclose(
        np.array([r["out.dense_1"] for r in rows]), np.array(sdk["out.dense_1"].tolist()), atol=1e-7
    )
    assert [r["in.tensor"] for r in rows] == sdk["in.tensor"].tolist()
    assert [r["anomaly.count"] for r in rows] == sdk["anomaly.count"].tolist()


def test_nested_answers_by_default_with_metadata(fraud) -> None:
    pipeline, x = fraud
    table = pa.table({"tensor": _fixed(x[:5])})
    sdk = pipeline.infer(table)
    body, _ = write_body(table, "arrow")
    arrow = read_body(_post(pipeline.url(), body, ARROW_FILE, ARROW_FILE).content, "arrow")
    assert arrow.schema.names == ["time", "in", "out", "anomaly", "metadata"]
    assert arrow.column("out").combine_chunks().field("dense_1").equals(
        sdk.column("out.dense_1").combine_chunks()
    )
    assert arrow.schema.field("anomaly").type == pa.struct([pa.field("count", pa.uint32(), nullable=False)])
    records = [{"tensor": row.tolist()} for row in x[:5]]
    rows = _post(pipeline.url(), httpx.Request("POST", "/", json=records).content, JSON_RECORDS).json()
    assert set(rows[0]) == {"time", "in", "out", "anomaly", "metadata"}
    assert rows[0]["anomaly"] == {"count": 0}
    assert rows[0]["out"]["dense_1"] == pytest.approx(sdk.column("out.dense_1")[0].as_py(), abs=1e-7)
    assert set(rows[0]["metadata"]) == {"last_model", "pipeline_version", "elapsed", "dropped", "partition"}


def test_json_request_can_ask_for_an_arrow_answer(fraud) -> None:
    pipeline, x = fraud
    records = [{"tensor": row.tolist()} for row in x[:3]]
    answer = _post(pipeline.url(), httpx.Request("POST", "/", json=records).content, JSON_RECORDS,
                   ARROW_FILE, FLAT)
    assert answer.headers["content-type"] == ARROW_FILE
    assert read_body(answer.content, "arrow").num_rows == 3


GOOD = [{"tensor": [0.5] * 29}]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "named"),
    [
        (b'[{"other": [1.0]}]', JSON_RECORDS, 400, "tensor"),                       # missing column
        (b'[{"tensor": "not numbers"}]', JSON_RECORDS, 400, "tensor"),              # wrong type
        (b'[{"tensor": [1.0, 2.0]}, {"tensor": [1.0]}]', JSON_RECORDS, 400, "ragged"),
        (b'[{"tensor": [1.0, 2.0, 3.0]}]', JSON_RECORDS, 400, "float32[29]"),       # wrong width
        (b'[{"tensor": null}]', JSON_RECORDS, 400, "null"),                         # null row
        (b'[{"tensor": [' + b"null," * 28 + b"1.0]}]", JSON_RECORDS, 400, "null"),  # null values
        (b"{not json", JSON_RECORDS, 400, "JSON"),                                  # unparsable
        (b"ARROW1 but not really", ARROW_FILE, 400, "Arrow"),                       # unparsable arrow
        (b"[]", JSON_RECORDS, 400, "empty"),                                        # empty table
        (b'[{"tensor": [1.0]}]', "text/plain", 415, "text/plain"),                  # content type
    ],
)
def test_bad_input_answers_4xx_naming_the_field_and_keeps_serving(
    fraud, body: bytes, content_type: str, status: int, named: str
) -> None:
    pipeline, _ = fraud
    answer = _post(pipeline.url(), body, content_type)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["code"] == status
    assert error["status"] == "error"
    assert error["source"] == "engine"
    assert named in error["error"]
    good = _post(pipeline.url(), httpx.Request("POST", "/", json=GOOD).content, JSON_RECORDS)
    assert good.status_code == 200


def test_wrong_type_message_names_expected_and_actual(fraud) -> None:
    pipeline, _ = fraud
    error = _post(pipeline.url(), b'[{"tensor": ["a", "b"]}]', JSON_RECORDS).json()["error"]
    assert "'tensor'" in error
    assert "float32[29]" in error  # expected
    assert "string" in error  # actual


def test_empty_arrow_table_is_a_400(fraud) -> None:
    pipeline, _ = fraud
    body, _ = write_body(pa.table({"tensor": pa.array([], pa.list_(pa.float32()))}), "arrow")
    answer = _post(pipeline.url(), body, ARROW_FILE)
    assert answer.status_code == 400
    assert "empty" in answer.json()["error"]


def test_sdk_raises_typed_errors_naming_the_field(fraud) -> None:
    pipeline, _ = fraud
    with pytest.raises(InvalidInputError) as caught:
        pipeline.infer(pa.table({"tensor": pa.array([["x"] * 29])}))
    assert caught.value.column == "tensor"
    assert "float32[29]" in caught.value.expected
    assert "string" in caught.value.actual
    assert pipeline.infer(pa.table({"tensor": _fixed(np.ones((1, 29), np.float32))})).num_rows == 1


def test_a_raising_model_answers_500_with_its_message_and_keeps_serving(client, tmp_path: Path) -> None:
    model = client.upload_model("reshaper", reshape_by_three(tmp_path / "r.onnx"))
    pipeline = client.build_pipeline("raiser").add_model_step(model).deploy()
    answer = _post(pipeline.url(), b'[{"x": [1.0, 2.0]}]', JSON_RECORDS)
    assert answer.status_code == 500
    assert "reshaper" in answer.json()["error"]
    assert "Reshape" in answer.json()["error"] or "reshape" in answer.json()["error"].lower()
    with pytest.raises(ModelError, match="reshaper"):
        pipeline.infer(pa.table({"x": pa.array([[1.0, 2.0]], pa.list_(pa.float32()))}))
    good = _post(pipeline.url(), b'[{"x": [1.0, 2.0, 3.0]}]', JSON_RECORDS)
    assert good.status_code == 200
    assert good.json()[0]["out"]["y"] == [1.0, 2.0, 3.0]


def test_over_capacity_answers_503_with_retry_after(client, tmp_path: Path) -> None:
    model = client.upload_model("slow", slow_square(tmp_path / "slow.onnx"))
    config = DeploymentConfigBuilder().max_ongoing_requests(1).max_queued_requests(1).build()
    pipeline = client.build_pipeline("slow").add_model_step(model).deploy(deployment_config=config)
    x = np.random.default_rng(5).normal(size=(3000, 256)).astype(np.float32)
    body, _ = write_body(pa.table({"x": _fixed(x)}), "arrow")
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: _post(pipeline.url(), body, ARROW_FILE, params=FLAT), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert 200 in statuses
    assert 503 in statuses, statuses
    assert set(statuses) <= {200, 503}
    refused = next(a for a in answers if a.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == 503
    small, _ = write_body(pa.table({"x": _fixed(x[:2])}), "arrow")
    assert _post(pipeline.url(), small, ARROW_FILE).status_code == 200
