"""Pipeline and step metrics through Ray's metrics (``ray.util.metrics``).

Every Ray node exports them on its metrics port (``ray.nodes()[i]["MetricsExportPort"]``),
so a Prometheus server scraping the nodes sees ``ray_joey_*`` series with ``workspace``,
``pipeline_name`` and ``step`` labels next to Serve's own replica and queue metrics.
"""

from __future__ import annotations

from typing import Any

LATENCY_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_PIPELINE = ("workspace", "pipeline_name")
_STEP = (*_PIPELINE, "step")


class PipelineMetrics:
    """The counters and histograms of one pipeline, recorded by its ingress replicas."""

    def __init__(self, workspace: str, pipeline: str) -> None:
        from ray.util.metrics import Counter, Histogram

        self._tags = {"workspace": workspace, "pipeline_name": pipeline}
        self._requests = Counter("joey_requests_total", "Answered inference requests", tag_keys=_PIPELINE)
        self._rows = Counter("joey_rows_total", "Answered rows", tag_keys=_PIPELINE)
        self._anomalies = Counter("joey_anomalies_total", "Answered rows with anomaly.count > 0",
                                  tag_keys=_PIPELINE)
        self._errors = Counter("joey_errors_total", "Failed requests by HTTP status",
                               tag_keys=(*_PIPELINE, "status"))
        self._latency = Histogram("joey_latency_ms", "Request latency in the ingress (ms)",
                                  boundaries=list(LATENCY_MS), tag_keys=_PIPELINE)
        self._step_rows = Counter("joey_step_rows_total", "Rows through a step", tag_keys=_STEP)
        self._step_calls = Counter("joey_step_requests_total", "Calls of a step", tag_keys=_STEP)
        self._step_errors = Counter("joey_step_errors_total", "Failed calls of a step", tag_keys=_STEP)
        self._step_latency = Histogram("joey_step_latency_ms", "A step's latency seen by the ingress (ms)",
                                       boundaries=list(LATENCY_MS), tag_keys=_STEP)

    def answered(self, rows: int, seconds: float, anomalies: int) -> None:
        self._requests.inc(1, tags=self._tags)
        self._rows.inc(rows, tags=self._tags)
        if anomalies:
            self._anomalies.inc(anomalies, tags=self._tags)
        self._latency.observe(seconds * 1000, tags=self._tags)

    def failed(self, status: int) -> None:
        self._errors.inc(1, tags={**self._tags, "status": str(status)})

    def step(self, name: str, rows: int, seconds: float) -> None:
        tags: dict[str, Any] = {**self._tags, "step": name}
        self._step_calls.inc(1, tags=tags)
        self._step_rows.inc(rows, tags=tags)
        self._step_latency.observe(seconds * 1000, tags=tags)

    def step_failed(self, name: str) -> None:
        self._step_errors.inc(1, tags={**self._tags, "step": name})
