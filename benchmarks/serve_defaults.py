"""``python -m benchmarks.serve_defaults --out FILE.json [--quick]``: the app on Serve's defaults.

What a user gets without joey: the hand-written app (``benchmarks/peer.py``) on a Ray whose
Serve runs as it comes: HTTP through Serve's Python proxy actor (no HAProxy) and Serve's
default loop settings (no ``RAY_SERVE_THROUGHPUT_OPTIMIZED``). Ray is started the way joey
starts it (``joey.cluster.ensure_serve``, loopback only, a free port) with
``serve_haproxy=False, serve_fast_replicas=False``.

Measured on ccfraud (``benchmarks.models``), as the main run measures the same app on joey's
Ray:

- 10,000-row HTTP Arrow rows/s: the plain peer (Serve's default ``max_ongoing_requests``, as
  ``peer-http`` in the batch sweep), median over a few calls with the sweep's untimed 60 ms
  pause after each (``paths.measure_cell``; answers checked against onnxruntime's);
- single-row HTTP p50, one client sending back to back, and requests/s of 32 such clients:
  the tuned peer (``max_ongoing_requests=64``, as ``peer-tuned`` in the small-request loads),
  with ``paths.run_load``.

``benchmarks.run`` runs this as a subprocess before it starts its own Ray, so two Rays never
run at once, and stores the JSON in ``results["serve_defaults"]``. Serve and Ray are shut
down at the end; the exit status is non-zero when a request failed or a step raised.
"""

from __future__ import annotations

import os

# Before Ray is imported anywhere: a local Ray then uses 127.0.0.1 as its node address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import argparse
import contextlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path as FilePath
from typing import Any

import httpx
import numpy as np

from benchmarks import models as bench_models
from benchmarks import paths as P

BATCH = 10_000
QUICK_PLAN = P.Plan(1, 3, 5, 8.0)
"""Quick mode's sweep has no batch 10,000; this is its plan here (full mode: the sweep's)."""
READY_S = 60.0

_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] serve-defaults: {message}", flush=True)


def wait_ready(http: httpx.Client, url: str, body: bytes, deadline_s: float = READY_S) -> None:
    """Until the app answers one request (the Python proxy learns a new route a moment after
    ``serve.run`` returns); raises when it never does."""
    until = time.monotonic() + deadline_s
    while True:
        try:
            answer = http.post(url, content=body, headers=P.ARROW_HEADERS)
            if answer.status_code == 200:
                return
            problem = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > until:
            raise RuntimeError(f"{url} did not answer within {deadline_s:.0f} s: {problem}")
        time.sleep(0.2)


def measure(scratch: FilePath, quick: bool, result: dict[str, Any]) -> None:
    """Start Ray and Serve on their defaults, deploy the peers, measure into ``result`` (what
    was measured stays there when a later step raises); the caller shuts down."""
    import joey
    from benchmarks import run
    from benchmarks.peer import deploy_peer
    from joey.cluster import ensure_serve

    cores = os.cpu_count() or 1
    mode = run.QUICK if quick else run.FULL
    plan = mode.plans.get(BATCH, QUICK_PLAN)
    duration_s, warmup_s, max_requests = (mode.load_duration_s, mode.load_warmup_s,
                                          mode.load_max_requests)
    tuned = run.PEER_TUNED_ONGOING
    result.update({
        "quick": quick, "settings": {"serve_haproxy": False, "serve_fast_replicas": False},
        "http_entry": "Serve's Python proxy actor",
        "batch_peer": "peer (Serve's default max_ongoing_requests)",
        "load_peer": f"peer-tuned (max_ongoing_requests={tuned})",
        "batch": BATCH, "plan": {"warmup": plan.warmup, "min_repeats": plan.min_repeats,
                                 "max_repeats": plan.max_repeats, "budget_s": plan.budget_s,
                                 "settle_s": plan.settle_s},
        "load_settings": {"duration_s": duration_s, "warmup_s": warmup_s,
                          "max_requests": max_requests},
    })

    settings = joey.Settings(home=scratch / "joey-home", http_port=run.free_port(),
                             serve_haproxy=False, serve_fast_replicas=False)
    started = time.monotonic()
    ensure_serve(settings)
    result["start_s"] = round(time.monotonic() - started, 1)
    log(f"Ray + Serve (Python proxy, defaults) on port {settings.http_port} in "
        f"{result['start_s']:.1f}s")
    base = f"http://{settings.http_host}:{settings.http_port}"

    model = bench_models.ccfraud(scratch / "models")
    bench_models.verify(model, cores)
    plain_app = deploy_peer(model.name, str(model.path), model.input_name, model.column)
    tuned_app = deploy_peer(model.name, str(model.path), model.input_name, model.column,
                            tuned)
    plain_url = f"{base}/peer/{plain_app.removeprefix('peer-')}/"
    tuned_url = f"{base}/peer/{tuned_app.removeprefix('peer-')}/"
    single_body = P.arrow_file_bytes(model.table(1, seed=1))
    result["apps"] = {plain_app: plain_url, tuned_app: tuned_url}

    with httpx.Client(timeout=P.HTTP_TIMEOUT_S) as http:
        wait_ready(http, plain_url, single_body)
        wait_ready(http, tuned_url, single_body)
        log(f"deployed {plain_app} and {tuned_app}")

        session = run.ort_session(model.path, cores)
        rows = model.rows(BATCH, seed=BATCH)  # the sweep's rows for this batch
        reference = np.asarray(session.run(None, {model.input_name: rows})[0])
        del session
        payload = P.Payload(rows, model.column, reference)
        cells = P.measure_cell("ccfraud", [P.peer_http_path(http, plain_url, "dense_1")],
                               payload, plan, log)
        result["batch10000"] = cells[0].to_dict()

    for key, concurrency in (("single", 1), ("load32", 32)):
        outcome = P.run_load("peer-tuned", tuned_url, single_body, [], concurrency,
                             duration_s, max_requests, warmup_s).to_dict()
        result[key] = outcome
        log(f"peer-tuned c={concurrency}: {outcome['requests_per_s'] or 0:.1f} req/s, p50 "
            f"{outcome['p50_ms'] or 0:.2f} ms, n={outcome['requests']}, "
            f"failures={outcome['failures']}")
    for app in (plain_app, tuned_app):
        with contextlib.suppress(Exception):
            from ray import serve

            serve.delete(app, _blocking=True)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The three numbers the report compares (None where not measured)."""
    cell = result.get("batch10000") or {}
    single = result.get("single") or {}
    load32 = result.get("load32") or {}
    return {"rows_per_s_10000": cell.get("rows_per_s"), "p50_ms_1_client": single.get("p50_ms"),
            "requests_per_s_32_clients": load32.get("requests_per_s")}


def failures(result: dict[str, Any]) -> int:
    count = 1 if result.get("error") else 0
    for key in ("batch10000", "single", "load32"):
        count += int((result.get(key) or {}).get("failures") or 0)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=FilePath, required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="fewer calls, shorter loads")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"error": None}
    with tempfile.TemporaryDirectory(prefix="joey-serve-defaults-") as tmp:
        scratch = FilePath(tmp)
        (scratch / "models").mkdir()
        try:
            measure(scratch, args.quick, result)
        except Exception as exc:
            traceback.print_exc()
            result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            with contextlib.suppress(Exception):
                from ray import serve

                serve.shutdown()
            with contextlib.suppress(Exception):
                import ray

                ray.shutdown()
    result["elapsed_s"] = round(time.monotonic() - _STARTED, 1)
    result["summary"] = summary(result)
    result["failures"] = failures(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"wrote {args.out}: {result['summary']}; failures {result['failures']}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
