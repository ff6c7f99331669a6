"""Pipeline and step metrics through Ray's metrics (``ray.util.metrics``).

Every Ray node exports them on its metrics port (``ray.nodes()[i]["MetricsExportPort"]``),
so a Prometheus server scraping the nodes sees ``ray_joey_*`` series with ``workspace``,
``pipeline_name`` and ``step`` labels next to Serve's own replica and queue metrics.
"""

from __future__ import annotations

import asyncio
from typing import Any

LATENCY_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_PIPELINE = ("workspace", "pipeline_name")
_STEP = (*_PIPELINE, "step")


FLUSH_S = 1.0
"""Counters are summed in the replica and handed to Ray once per this many seconds: a request's
six Ray metric calls (four of them counters) took ~15 us, and Ray's metric calls were ~9% of the
ingress's samples in the profile. Ray exports every 10 s anyway; histograms are observed per
request (7.5 us of metric calls per request left)."""


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
        self._pending: dict[tuple[Any, tuple[tuple[str, str], ...]], float] = {}
        self._flush_scheduled = False
        self._step_tags: dict[str, dict[str, str]] = {}

    def _count(self, counter: Any, value: float, tags: dict[str, str]) -> None:
        """Add to ``counter`` at the next flush (at once when no event loop runs here)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            counter.inc(value, tags=tags)
            return
        key = (counter, tuple(tags.items()))
        self._pending[key] = self._pending.get(key, 0.0) + value
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        """Hand the summed counts to Ray."""
        pending, self._pending = self._pending, {}
        self._flush_scheduled = False
        for (counter, tags), value in pending.items():
            counter.inc(value, tags=dict(tags))

    def _tags_of_step(self, name: str) -> dict[str, str]:
        tags = self._step_tags.get(name)
        if tags is None:
            tags = self._step_tags[name] = {**self._tags, "step": name}
        return tags

    def answered(self, rows: int, seconds: float, anomalies: int) -> None:
        self._count(self._requests, 1, self._tags)
        self._count(self._rows, rows, self._tags)
        if anomalies:
            self._count(self._anomalies, anomalies, self._tags)
        self._latency.observe(seconds * 1000, tags=self._tags)

    def failed(self, status: int) -> None:
        self._count(self._errors, 1, {**self._tags, "status": str(status)})

    def step(self, name: str, rows: int, seconds: float) -> None:
        tags = self._tags_of_step(name)
        self._count(self._step_calls, 1, tags)
        self._count(self._step_rows, rows, tags)
        self._step_latency.observe(seconds * 1000, tags=tags)

    def step_failed(self, name: str) -> None:
        self._count(self._step_errors, 1, self._tags_of_step(name))
