"""Metrics: Ray's metrics endpoint shows joey's counters moving; pipeline.metrics() without it."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from support.waiting import wait_until

from joey.errors import InvalidInputError
from joey.testing.onnx_models import mlp

pytestmark = pytest.mark.ray


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _request(rows: int) -> pa.Table:
    return pa.table({"tensor": _fixed(np.random.default_rng(rows).normal(size=(rows, 29)).astype(np.float32))})


def _scrape() -> str:
    import ray

    port = next(n["MetricsExportPort"] for n in ray.nodes() if n["Alive"])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def _value(text: str, metric: str, **labels: str) -> float:
    """Sum of ``metric``'s samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def metered(client, tmp_path: Path):
    model = client.upload_model("ccfraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    return client.build_pipeline("metered").add_model_step(model).deploy()


def test_the_nodes_metrics_endpoint_shows_the_pipelines_counters_moving(metered) -> None:
    labels = {"workspace": "default", "pipeline_name": "metered"}
    for _ in range(3):
        metered.infer(_request(4))
    with pytest.raises(InvalidInputError):
        metered.infer(pa.table({"tensor": pa.array(["not numbers"])}))
    wait_until(lambda: _value(_scrape(), "ray_joey_requests_total", **labels) >= 3, timeout=60, interval=1)
    text = _scrape()
    assert _value(text, "ray_joey_rows_total", **labels) == 12
    assert _value(text, "ray_joey_errors_total", status="400", **labels) == 1
    assert _value(text, "ray_joey_step_rows_total", step="0-ccfraud", **labels) == 12
    assert _value(text, "ray_joey_latency_ms_count", **labels) == 3
    assert "ray_serve_" in text  # Serve's own replica and queue metrics stay visible
    before = _value(text, "ray_joey_requests_total", **labels)
    for _ in range(2):
        metered.infer(_request(1))
    wait_until(lambda: _value(_scrape(), "ray_joey_requests_total", **labels) >= before + 2, timeout=60,
               interval=1)


def test_pipeline_metrics_answers_without_prometheus(metered) -> None:
    for rows in (1, 2, 3, 4):
        metered.infer(_request(rows))
    response = httpx.post(metered.url(), content=b"not json", timeout=30,
                          headers={"Content-Type": "application/json; format=pandas-records"})
    assert response.status_code == 400
    numbers = metered.metrics()
    assert numbers["requests"] == 4 and numbers["rows"] == 10
    assert numbers["errors"] == 1 and numbers["errors_by_status"] == {"400": 1}
    assert 0 < numbers["latency_ms"]["p50"] <= numbers["latency_ms"]["p95"] <= numbers["latency_ms"]["p99"]
    assert numbers["rps"] == pytest.approx(4 / (15 * 60))
    assert numbers["anomalies"] == 0
