"""What the dashboard's pages show, as plain data for the templates.

Every number comes from the SDK's own functions: the metrics from ``pipeline.metrics()`` and,
for the charts, ``joey.platform.logs.metrics_series`` (the same reading and the same formula,
per time bucket); the anomaly log from the query under ``pipeline.logs(valid=False)``; the
audit log from the store's audit events; status from ``pipeline.status()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joey.errors import JoeyError
from joey.platform import logs as log_queries
from joey.platform import steps as step_json
from joey.platform.context import Context
from joey.platform.pipeline import Pipeline
from joey.platform.store import AuditEventRow, WorkspaceRow
from joey.platform.workspace import Workspace
from joey.tables import DatasetFilter


@dataclass(frozen=True)
class Period:
    """A selectable chart period: how far back, in how many buckets."""

    key: str
    label: str
    span: timedelta
    buckets: int


PERIODS = {p.key: p for p in (
    Period("15m", "last 15 min", timedelta(minutes=15), 30),   # 30 s buckets
    Period("1h", "last 1 h", timedelta(hours=1), 60),           # 1 min
    Period("24h", "last 24 h", timedelta(hours=24), 96),        # 15 min
    Period("7d", "last 7 d", timedelta(days=7), 84),            # 2 h
)}
DEFAULT_PERIOD = "1h"
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
CELL_CHARS = 120
"""A logged value longer than this is cut (with an ellipsis) in the anomaly table."""


def period(key: str | None) -> Period:
    return PERIODS.get(key or DEFAULT_PERIOD, PERIODS[DEFAULT_PERIOD])


def window(selected: Period, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = now or datetime.now(UTC)
    return end - selected.span, end


# -- workspace ---------------------------------------------------------------------------------


def models(context: Context, workspace: WorkspaceRow) -> list[dict[str, Any]]:
    """Each model with its versions (newest first): runtime, framework, status, conversion record."""
    found = []
    for model in Workspace(context, workspace).models():
        found.append({"name": model.name(), "versions": [_version(v) for v in model.versions()]})
    return found


def _version(version: Any) -> dict[str, Any]:
    conversion = version.config().conversion()
    return {"version": version.version(), "sha": version.sha()[:12], "runtime": version.config().runtime(),
            "framework": version.framework(), "status": version.status(), "file": version.file_name(),
            "updated": version.last_update_time(), "conversion": _conversion(conversion),
            "conversion_json": json.dumps(conversion, indent=2, default=str) if conversion else None}


def _conversion(record: dict[str, Any] | None) -> str:
    """One line of the upload's conversion record (``model.config().conversion()``)."""
    if not record:
        return "none: runs as uploaded"
    tried = record.get("tried", "?")
    if record.get("kept"):
        diff = record.get("max_abs_diff")
        return (f"ONNX by {tried}, kept: {record.get('inputs_compared', 0)} rows compared"
                + (f", max abs diff {diff:.3g}" if isinstance(diff, int | float) else ""))
    return f"ONNX by {tried}, not kept" + (f": {record['detail']}" if record.get("detail") else "")


def pipelines(context: Context, workspace: WorkspaceRow, live: bool) -> list[dict[str, Any]]:
    return [pipeline_summary(p, live) for p in Workspace(context, workspace).pipelines()]


def pipeline_summary(pipeline: Pipeline, live: bool) -> dict[str, Any]:
    """Status, versions, steps and where each runs."""
    status = _status(pipeline, live)
    versions = pipeline.versions()
    return {"name": pipeline.name(), "status": status["status"], "details": status.get("details", []),
            "versions": [{"name": v.name(), "created": v.create_time()} for v in versions],
            "steps": [_step(s) for s in pipeline.steps()], "replicas": _replicas(status),
            "created": pipeline.create_time()}


def _status(pipeline: Pipeline, live: bool) -> dict[str, Any]:
    """``pipeline.status()`` when a Ray is there to ask; else what the store recorded."""
    deployment = pipeline._context.store.active_deployment(pipeline.id())
    if deployment is None:
        return {"status": "Unavailable", "details": []}
    if not live:
        return {"status": "Unknown", "details": [f"no Ray to ask (last recorded: {deployment.status})"]}
    try:
        return pipeline.status()
    except JoeyError as exc:
        return {"status": "Unknown", "details": [str(exc)]}
    except Exception as exc:  # Ray's own errors: the page still shows everything else
        return {"status": "Unknown", "details": [f"status unavailable ({type(exc).__name__})"]}


def _step(step: dict[str, Any]) -> dict[str, Any]:
    (kind, body), = step.items()
    detail = ", ".join(step_json.model_names(step))
    if kind == step_json.RANDOM_SPLIT:
        detail = ", ".join(f"{w['model']['name']} ({w['weight']})" for w in body["weights"])
        if body.get("hash_key"):
            detail += f" by {body['hash_key']}"
    elif kind == step_json.KEY_SPLIT:
        routes = ", ".join(f"{k}: {m['name']}" for k, m in body["routes"].items())
        detail = f"{body['split_key']}: {routes}; else {body['control']['name']}"
    elif kind == step_json.CHECK:
        detail = ", ".join(validation_names(step))
    return {"kind": kind, "detail": detail or "-"}


def validation_names(step: dict[str, Any]) -> list[str]:
    """The names of a ``Check`` step's validations (each stored as ``expr.alias(name)``)."""
    names = []
    for tree in step.get(step_json.CHECK, {}).get("tree", []):
        try:
            alias = json.loads(tree)["Alias"]
            names.append(str(alias[1]))
        except (ValueError, KeyError, IndexError, TypeError):
            names.append("?")
    return names


def _replicas(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Where each step runs: one entry per replica, with the models placed in it."""
    rows: dict[str, dict[str, Any]] = {}
    for role, key in (("ingress", "engine_lbs"), ("native models", "engines"), ("own framework", "sidekicks")):
        for entry in status.get(key, []):
            row = rows.setdefault(entry["name"], {"replica": entry["name"], "node": entry.get("ip"),
                                                  "status": entry.get("status"), "roles": [], "models": []})
            row["roles"].append(role)
            row["models"] += [m["name"] for m in entry.get("model_statuses", {}).get("models", [])]
    return list(rows.values())


# -- metrics -----------------------------------------------------------------------------------


def metrics(pipeline: Pipeline, selected: Period, now: datetime | None = None) -> dict[str, Any]:
    """``pipeline.metrics()`` over the period: the numbers of the summary table."""
    start, end = window(selected, now)
    return pipeline.metrics(start, end)


def series(pipeline: Pipeline, selected: Period, now: datetime | None = None) -> dict[str, Any]:
    """The charts' data: per bucket of the period, requests/s, rows/s and p50/p95/p99 ms
    (``pipeline.metrics_series``: ``pipeline.metrics()``'s reading and formula per bucket)."""
    start, end = window(selected, now)
    buckets = pipeline.metrics_series(start, end, selected.buckets)
    return {
        "period": selected.key, "start": start.isoformat(), "end": end.isoformat(),
        "t": [b["start"].timestamp() for b in buckets],
        "rps": [b["rps"] for b in buckets],
        "rows_per_s": [b["rows_per_s"] for b in buckets],
        **{q: [b["latency_ms"][q] for b in buckets] for q in ("p50", "p95", "p99")},
        "requests": sum(b["requests"] for b in buckets),
        "rows": sum(b["rows"] for b in buckets),
    }


# -- the anomaly log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    start: datetime | None
    end: datetime | None

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def anomalies(pipeline: Pipeline, page: Page) -> dict[str, Any]:
    """The page of logged rows with ``anomaly.count > 0``, as ``pipeline.logs(valid=False)`` reads
    them: newest first, or with a time range oldest first in it; each row with the names of the
    validations it failed and its ``in``/``out`` values."""
    start, end = page.start, page.end
    if (start is None) != (end is None):  # one bound: the other is open
        start = start or datetime(1970, 1, 1, tzinfo=UTC)
        end = end or datetime.now(UTC)
    table, more, _ = log_queries.query(pipeline._log_dir(), page.offset + page.size, start, end, False,
                                       DatasetFilter.for_sdk(None, None))
    table = table.slice(page.offset, page.size) if table.num_rows > page.offset else table.slice(0, 0)
    checks = [c for c in table.column_names if c.startswith("anomaly.") and c != "anomaly.count"]
    values = [c for c in table.column_names if c.startswith(("in.", "out"))]
    rows = []
    for record in table.select(["time", *checks, *values]).to_pylist() if table.num_rows else []:
        rows.append({"time": _utc(record["time"]),
                     "failed": [c.removeprefix("anomaly.") for c in checks if record.get(c)],
                     "values": [(c, _cell(record[c])) for c in values]})
    return {"rows": rows, "columns": values, "more": more, "oldest_first": start is not None}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _cell(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "\u2026"


# -- the audit log -----------------------------------------------------------------------------


def audit(context: Context, workspace: WorkspaceRow, page: Page,
          pipeline: Pipeline | None = None) -> dict[str, Any]:
    """The page of the workspace's audit events (or one pipeline's), newest first."""
    events: list[AuditEventRow] = context.store.list_audit_events(page.start, page.end, workspace_id=workspace.id)
    if pipeline is not None:
        events = [e for e in events if e.object_kind == "pipeline" and e.object_id == pipeline.id()]
    events.reverse()
    shown = events[page.offset:page.offset + page.size]
    return {"events": [{"time": e.created_at, "actor": e.actor, "action": e.action,
                        "object": f"{e.object_kind} {e.object_name}", "details": _details(e.details)}
                       for e in shown],
            "more": len(events) > page.offset + page.size, "total": len(events)}


def _details(details: dict[str, Any]) -> str:
    return _cell(", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in details.items()))
