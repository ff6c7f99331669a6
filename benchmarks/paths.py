"""Timing helpers and the ways of calling a model that the benchmark compares.

Every path is a ``Path``: ``call(payload)`` does one request end to end as a user would
(the request body is encoded once beforehand; decoding the answer is timed), and
``first_output(answer)`` pulls the model's first output out of the answer as numpy, outside
the timed region, so every answer is checked against bare onnxruntime's.

The paths of one (model, batch) cell, the limit included, are timed round-robin (one call of
each path per round), so a slow phase of a shared machine hits every path alike and the ratios
stay fair, with a short untimed pause after each call so that onnxruntime's spinning worker
threads (they burn ~40 ms of a core after every parallel run) do not land on the next call.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa

ARROW_FILE = "application/vnd.apache.arrow.file"
JSON_RECORDS = "application/json; format=pandas-records"
ARROW_HEADERS = {"Content-Type": ARROW_FILE, "Accept": ARROW_FILE}
JSON_HEADERS = {"Content-Type": JSON_RECORDS, "Accept": "application/json"}
QueryParams = list[tuple[str, str | int | float | bool | None]]
# joey's HTTP answers: flat columns, no metadata group (the SDK's shape)
JOEY_PARAMS: QueryParams = [("dataset.separator", "."), ("dataset.exclude[]", "metadata")]
JOEY_OUT_PARAMS: QueryParams = [("dataset.separator", "."), ("dataset[]", "out")]
"""Only the ``out.*`` columns: the same answer content as the peer's (no echoed input)."""
HTTP_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- payloads


def arrow_file_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_arrow_file(body: bytes) -> pa.Table:
    return pa.ipc.open_file(pa.py_buffer(body)).read_all()


@dataclass
class Payload:
    """One batch in every form the paths send, and the expected first output."""

    rows: np.ndarray
    column: str
    reference: np.ndarray
    table: pa.Table = field(init=False)
    arrow_body: bytes = field(init=False)
    _json_body: bytes | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        flat = pa.array(np.ascontiguousarray(self.rows).reshape(-1))
        self.table = pa.table(
            {self.column: pa.FixedSizeListArray.from_arrays(flat, self.rows.shape[1])}
        )
        self.arrow_body = arrow_file_bytes(self.table)

    @property
    def batch(self) -> int:
        return int(self.rows.shape[0])

    @property
    def json_body(self) -> bytes:
        """pandas-records: ``[{"tensor": [...]}, ...]`` (built on first use)."""
        if self._json_body is None:
            self._json_body = orjson.dumps(
                [{self.column: row} for row in self.rows.tolist()]
            )
        return self._json_body


# ---------------------------------------------------------------- paths


@dataclass(frozen=True)
class Path:
    name: str
    call: Callable[[Payload], Any]
    first_output: Callable[[Any], np.ndarray]
    peer: str | None = None
    """The peer path this one is compared with (HTTP with HTTP, handle with handle)."""
    limit_slow_call_s: float | None = None
    """Skip the path at this batch when one warm-up call takes longer than this."""


def _list_column(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name).combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) \
            or pa.types.is_large_list(column.type):
        return np.asarray(column.flatten().to_numpy(zero_copy_only=False)).reshape(len(column), -1)
    return np.asarray(column.to_numpy(zero_copy_only=False)).reshape(len(column), -1)


def limit_path(sessions: Sequence[Any]) -> Path:
    """Bare ``InferenceSession.run`` in this process (every output): the physical limit.

    Several sessions run one after the other, each fed the previous one's first output.
    """

    steps = [(s, s.get_inputs()[0].name) for s in sessions]

    def call(p: Payload) -> Any:
        feed = p.rows
        answer: list[Any] = []
        for session, input_name in steps:
            answer = session.run(None, {input_name: feed})
            feed = answer[0]
        return answer

    return Path("limit", call, lambda answer: np.asarray(answer[0]))


def peer_http_path(http: httpx.Client, url: str, output: str) -> Path:
    def call(p: Payload) -> pa.Table:
        answer = http.post(url, content=p.arrow_body, headers=ARROW_HEADERS)
        answer.raise_for_status()
        return read_arrow_file(answer.content)

    return Path("peer-http", call, lambda t: _list_column(t, output))


def peer_handle_path(handle: Any, output: str) -> Path:
    def call(p: Payload) -> pa.Table:
        return handle.infer.remote(p.table).result(timeout_s=HTTP_TIMEOUT_S)

    return Path("peer-handle", call, lambda t: _list_column(t, output))


def joey_sdk_path(pipeline: Any, output: str, name: str = "joey-sdk") -> Path:
    def call(p: Payload) -> pa.Table:
        return pipeline.infer(p.table, timeout=HTTP_TIMEOUT_S)

    return Path(name, call, lambda t: _list_column(t, f"out.{output}"), peer="peer-handle")


def joey_http_arrow_path(http: httpx.Client, url: str, output: str,
                         name: str = "joey-http-arrow",
                         params: QueryParams = JOEY_PARAMS) -> Path:
    def call(p: Payload) -> pa.Table:
        answer = http.post(url, content=p.arrow_body, headers=ARROW_HEADERS, params=params)
        answer.raise_for_status()
        return read_arrow_file(answer.content)

    return Path(name, call, lambda t: _list_column(t, f"out.{output}"), peer="peer-http")


def joey_http_json_path(http: httpx.Client, url: str, output: str,
                        slow_call_s: float = 20.0) -> Path:
    def call(p: Payload) -> Any:
        answer = http.post(url, content=p.json_body, headers=JSON_HEADERS, params=JOEY_PARAMS)
        answer.raise_for_status()
        return orjson.loads(answer.content)

    def first(records: Any) -> np.ndarray:
        return np.asarray([r[f"out.{output}"] for r in records], dtype=np.float64).reshape(
            len(records), -1)

    return Path("joey-http-json", call, first, peer="peer-http", limit_slow_call_s=slow_call_s)


def joey_handle_path(handle: Any, output: str) -> Path:
    def call(p: Payload) -> pa.Table:
        return handle.infer.remote(p.table).result(timeout_s=HTTP_TIMEOUT_S)

    return Path("joey-handle", call, lambda t: _list_column(t, f"out.{output}"), peer="peer-handle")


# ---------------------------------------------------------------- batch timing


@dataclass(frozen=True)
class Plan:
    """How long to time one (model, batch) cell."""

    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 20
    budget_s: float = 20.0
    settle_s: float = 0.06
    """Pause after each served call (untimed): onnxruntime's idle worker threads spin for
    ~40 ms after a run, which would otherwise land on whichever path is timed next."""


@dataclass
class Cell:
    model: str
    path: str
    batch: int
    peer: str | None = None
    times_s: list[float] = field(default_factory=list)
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times_s) if self.times_s else None

    @property
    def rows_per_s(self) -> float | None:
        median = self.median_s
        return self.batch / median if median else None

    def fail(self, exc: BaseException) -> None:
        self.failures += 1
        if len(self.errors) < 3:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def to_dict(self) -> dict[str, Any]:
        times = sorted(self.times_s)
        return {
            "model": self.model, "path": self.path, "batch": self.batch, "peer": self.peer,
            "repeats": len(times), "failures": self.failures, "errors": self.errors,
            "skipped": self.skipped,
            "median_s": self.median_s, "min_s": times[0] if times else None,
            "max_s": times[-1] if times else None, "rows_per_s": self.rows_per_s,
        }


def _check(path: Path, answer: Any, payload: Payload) -> None:
    got = path.first_output(answer)
    want = payload.reference.reshape(payload.batch, -1)
    if got.shape != want.shape:
        raise AssertionError(f"{path.name}: answer shape {got.shape}, expected {want.shape}")
    if not np.allclose(got, want, rtol=1e-3, atol=1e-4):
        worst = float(np.max(np.abs(got - want)))
        raise AssertionError(f"{path.name}: answer differs from onnxruntime's by up to {worst:g}")


def _timed(path: Path, payload: Payload, cell: Cell) -> float | None:
    """One call: its seconds, or None when it failed (counted in the cell)."""
    started = time.perf_counter()
    try:
        answer = path.call(payload)
    except Exception as exc:
        cell.fail(exc)
        return None
    elapsed = time.perf_counter() - started
    try:
        _check(path, answer, payload)
    except AssertionError as exc:
        cell.fail(exc)
        return None
    return elapsed


def _settle(plan: Plan) -> None:
    """Let the previous call's onnxruntime worker threads stop spinning (~40 ms of a core)."""
    if plan.settle_s:
        time.sleep(plan.settle_s)


def measure_cell(model: str, paths: Sequence[Path], payload: Payload, plan: Plan,
                 log: Callable[[str], None] = print) -> list[Cell]:
    """Warm every path up, then time them within ``plan``'s bounds: the paths take turns,
    one call each per round, and every call starts on a settled machine."""
    cells = {p.name: Cell(model, p.name, payload.batch, p.peer) for p in paths}

    def warm(path: Path) -> bool:
        cell = cells[path.name]
        ok = 0
        for _ in range(plan.warmup):
            elapsed = _timed(path, payload, cell)
            _settle(plan)
            if elapsed is None:
                continue
            ok += 1
            if path.limit_slow_call_s is not None and elapsed > path.limit_slow_call_s:
                cell.skipped = f"one call took {elapsed:.1f} s (> {path.limit_slow_call_s:.0f} s)"
                return False
        if ok == 0 and plan.warmup:
            cell.skipped = "every warm-up call failed"
            return False
        return True

    active = [p for p in paths if warm(p)]
    started = time.monotonic()
    for round_index in range(plan.max_repeats):
        if round_index >= plan.min_repeats and time.monotonic() - started > plan.budget_s:
            break
        for path in active:
            elapsed = _timed(path, payload, cells[path.name])
            if elapsed is not None:
                cells[path.name].times_s.append(elapsed)
            _settle(plan)
    for cell in cells.values():
        median = cell.median_s
        shown = f"{median * 1e3:9.2f} ms  {cell.rows_per_s:12,.0f} rows/s" if median else "        -"
        note = f"  SKIPPED: {cell.skipped}" if cell.skipped else ""
        fails = f"  failures={cell.failures}" if cell.failures else ""
        log(f"  {model:13s} batch={payload.batch:<6d} {cell.path:16s} {shown}"
            f"  n={len(cell.times_s)}{fails}{note}")
    return list(cells.values())


# ---------------------------------------------------------------- latency samples


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values), q))


@dataclass
class Samples:
    """Latencies of one sequential single-row setting."""

    name: str
    latencies_s: list[float] = field(default_factory=list)
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        p50 = percentile(self.latencies_s, 50)
        p99 = percentile(self.latencies_s, 99)
        return {"name": self.name, "requests": len(self.latencies_s), "failures": self.failures,
                "errors": self.errors, "p50_ms": p50 * 1e3 if p50 is not None else None,
                "p99_ms": p99 * 1e3 if p99 is not None else None}


def interleaved_latencies(calls: dict[str, Callable[[], Any]], rounds: int, per_round: int,
                          budget_s: float, settle_s: float = 0.06) -> dict[str, Samples]:
    """Sequential calls, in blocks of ``per_round`` per name, alternating names each round,
    each followed by an untimed ``settle_s`` pause (see ``Plan.settle_s``)."""
    samples = {name: Samples(name) for name in calls}
    for call in calls.values():  # warm-up
        for _ in range(3):
            try:
                call()
            except Exception:  # counted below, where it is timed
                break
    started = time.monotonic()
    for _ in range(rounds):
        if time.monotonic() - started > budget_s:
            break
        for name, call in calls.items():
            for _ in range(per_round):
                begun = time.perf_counter()
                try:
                    call()
                except Exception as exc:
                    samples[name].failures += 1
                    if len(samples[name].errors) < 3:
                        samples[name].errors.append(f"{type(exc).__name__}: {exc}"[:300])
                else:
                    samples[name].latencies_s.append(time.perf_counter() - begun)
                if settle_s:
                    time.sleep(settle_s)
    return samples


# ---------------------------------------------------------------- concurrent load


@dataclass
class LoadResult:
    name: str
    concurrency: int
    duration_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def requests_per_s(self) -> float | None:
        return len(self.latencies_s) / self.duration_s if self.duration_s else None

    def to_dict(self) -> dict[str, Any]:
        p50 = percentile(self.latencies_s, 50)
        p99 = percentile(self.latencies_s, 99)
        return {"name": self.name, "concurrency": self.concurrency,
                "duration_s": self.duration_s, "requests": len(self.latencies_s),
                "failures": self.failures, "errors": self.errors,
                "requests_per_s": self.requests_per_s,
                "p50_ms": p50 * 1e3 if p50 is not None else None,
                "p99_ms": p99 * 1e3 if p99 is not None else None}


async def _load(name: str, url: str, body: bytes, params: QueryParams,
                concurrency: int, duration_s: float, max_requests: int,
                warmup_s: float) -> LoadResult:
    result = LoadResult(name, concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=HTTP_TIMEOUT_S) as http:

        async def one() -> float:
            begun = time.perf_counter()
            answer = await http.post(url, content=body, headers=ARROW_HEADERS, params=params)
            answer.raise_for_status()
            read_arrow_file(answer.content)
            return time.perf_counter() - begun

        # warm-up: open the connections, wake the replicas; not recorded
        warm_until = time.monotonic() + warmup_s

        async def warm() -> None:
            while time.monotonic() < warm_until:
                try:
                    await one()
                except Exception:
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(warm() for _ in range(concurrency)))

        started = time.monotonic()
        stop_at = started + duration_s
        issued = 0

        async def worker() -> None:
            nonlocal issued
            while time.monotonic() < stop_at and issued < max_requests:
                issued += 1
                try:
                    result.latencies_s.append(await one())
                except Exception as exc:
                    result.failures += 1
                    if len(result.errors) < 3:
                        result.errors.append(f"{type(exc).__name__}: {exc}"[:300])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.duration_s = time.monotonic() - started
    return result


def run_load(name: str, url: str, body: bytes, params: QueryParams, concurrency: int,
             duration_s: float, max_requests: int, warmup_s: float = 1.0) -> LoadResult:
    """``concurrency`` clients send single-row Arrow requests back to back for ``duration_s``."""
    return asyncio.run(_load(name, url, body, params, concurrency, duration_s, max_requests,
                             warmup_s))
