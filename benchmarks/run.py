"""``python -m benchmarks.run [--quick] [--out benchmarks/results]``.

First, in a subprocess on a Ray of its own, the hand-written app (the peer) on Serve's
defaults: Serve's Python proxy, default loop settings (``benchmarks/serve_defaults.py``; what a
user gets without joey; ``--no-serve-defaults`` skips it). Then starts one local Ray and Serve
the way joey does by default (loopback only; HAProxy as the HTTP entry, fast replicas), builds
the models, deploys the peer apps and joey's pipelines (the default layout, where the placement
rule runs a native chain inside the ingress replicas as one deployment, and the "separate"
layout, ``fuse_steps(False)``: every model a deployment of its own behind a separate ingress),
times every path, profiles the single-row hot path with py-spy (``benchmarks/profile.py``;
``--profile``, on by default in full mode), writes JSON + README tables + PNG, cleans up, and
exits non-zero when any request failed.
"""

from __future__ import annotations

import os

# Before Ray is imported anywhere: a local Ray then uses 127.0.0.1 as its node address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import argparse
import contextlib
import datetime as dt
import platform
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path as FilePath
from typing import Any

import httpx
import numpy as np

from benchmarks import models as bench_models
from benchmarks import paths as P
from benchmarks import report

HERE = FilePath(__file__).resolve().parent
BATCHING = {"max_batch_delay_ms": 5, "batch_size_target": 32}
PEER_TUNED_ONGOING = 64


@dataclass(frozen=True)
class Mode:
    quick: bool
    batches: tuple[int, ...]
    plans: dict[int, P.Plan]
    load_duration_s: float
    load_warmup_s: float
    load_max_requests: int
    concurrency: tuple[int, ...]
    chain_rounds: int
    chain_per_round: int
    chain_budget_s: float
    cold_repeats: int


FULL = Mode(
    quick=False,
    batches=(1, 100, 1000, 10000),
    plans={1: P.Plan(2, 10, 30, 8.0), 100: P.Plan(2, 10, 25, 8.0),
           1000: P.Plan(2, 7, 15, 12.0), 10000: P.Plan(2, 5, 8, 30.0)},
    load_duration_s=8.0, load_warmup_s=1.0, load_max_requests=50_000, concurrency=(1, 8, 32),
    chain_rounds=8, chain_per_round=10, chain_budget_s=25.0, cold_repeats=3,
)
QUICK = Mode(
    quick=True,
    batches=(1, 1000),
    plans={1: P.Plan(1, 5, 12, 3.0), 1000: P.Plan(1, 3, 5, 4.0)},
    load_duration_s=2.5, load_warmup_s=0.5, load_max_requests=20_000, concurrency=(1, 32),
    chain_rounds=4, chain_per_round=8, chain_budget_s=8.0, cold_repeats=1,
)

_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_name(cores: int) -> str:
    name = socket.gethostname().split(".")[0].lower()
    generic = {"", "vm", "localhost", "ubuntu", "debian"}
    if name in generic or re.fullmatch(r"[0-9a-f]{12,}", name):
        return f"cpu{cores}"
    return re.sub(r"[^a-z0-9-]", "-", name)


def machine_info() -> dict[str, Any]:
    import onnxruntime as ort
    import pyarrow as pa
    import ray

    cpu_model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in FilePath("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in FilePath("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "hostname": socket.gethostname(),
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "httpx": httpx.__version__,
    }


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def ort_session(path: FilePath, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    return ort.InferenceSession(str(path), options, providers=providers)


@contextlib.contextmanager
def phase(name: str, timings: dict[str, float]) -> Iterator[None]:
    log(f"== {name}")
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(time.monotonic() - started, 1)
        log(f"== {name} done in {timings[name]:.1f}s")


class Bench:
    """One run: Ray/Serve, the joey client, deployed apps, and what was measured."""

    def __init__(self, mode: Mode, scratch: FilePath) -> None:
        import joey
        from joey.cluster import ensure_serve

        self.mode = mode
        self.scratch = scratch
        self.cores = os.cpu_count() or 1
        self.settings = joey.Settings(home=scratch / "joey-home", http_port=free_port())
        ensure_serve(self.settings)
        self.client = joey.Client(settings=self.settings)
        self.base = f"http://{self.settings.http_host}:{self.settings.http_port}"
        self.http = httpx.Client(timeout=P.HTTP_TIMEOUT_S)
        self.pipelines: list[Any] = []
        self.peers: list[str] = []
        self.cells: list[P.Cell] = []
        self.extra_failures: dict[str, int] = {}
        self.results: dict[str, Any] = {}

    # ------------------------------------------------------------ deploy helpers

    def deploy(self, name: str, steps: list[Any], fuse: bool | None = None) -> Any:
        """Deploy ``steps`` as pipeline ``name``. ``fuse`` None: joey's default layout (the
        placement rule); False: every model a deployment of its own behind a separate ingress
        (``fuse_steps(False)``); True: every model inside the ingress (``fuse_steps(True)``)."""
        import joey

        pipeline = self.client.build_pipeline(name).clear()
        for step in steps:
            pipeline = pipeline.add_model_step(step)
        started = time.monotonic()
        config = None if fuse is None else joey.DeploymentConfigBuilder().fuse_steps(fuse).build()
        pipeline.deploy(deployment_config=config)
        self.pipelines.append(pipeline)
        layout = {None: "default layout", False: "separate", True: "fuse_steps(True)"}[fuse]
        log(f"deployed joey pipeline {name!r} ({len(steps)} step(s), {layout}) in "
            f"{time.monotonic() - started:.1f}s at {pipeline.url()}")
        return pipeline

    def undeploy(self, pipeline: Any) -> None:
        with contextlib.suppress(Exception):
            pipeline.undeploy()
        if pipeline in self.pipelines:
            self.pipelines.remove(pipeline)

    def deploy_peer(self, model: bench_models.BenchModel,
                    max_ongoing_requests: int | None = None) -> tuple[str, str]:
        from benchmarks.peer import deploy_peer

        started = time.monotonic()
        app = deploy_peer(model.name, str(model.path), model.input_name, model.column,
                          max_ongoing_requests)
        self.peers.append(app)
        url = f"{self.base}/peer/{app.removeprefix('peer-')}/"
        log(f"deployed peer {app!r} in {time.monotonic() - started:.1f}s at {url}")
        return app, url

    def delete_peer(self, app: str) -> None:
        from ray import serve

        with contextlib.suppress(Exception):
            serve.delete(app, _blocking=True)
        if app in self.peers:
            self.peers.remove(app)

    def cleanup(self) -> None:
        for pipeline in list(self.pipelines):
            self.undeploy(pipeline)
        for app in list(self.peers):
            self.delete_peer(app)
        self.http.close()

    # ------------------------------------------------------------ batch sweep

    def payload(self, model: bench_models.BenchModel, batch: int, limit: P.Path) -> P.Payload:
        rows = model.rows(batch, seed=batch)
        reference = np.asarray(limit.call(P.Payload(rows, model.column, np.zeros(0)))[0])
        return P.Payload(rows, model.column, reference)

    def sweep(self, label: str, model: bench_models.BenchModel, paths: list[P.Path]) -> None:
        limit = paths[0]
        for batch in self.mode.batches:
            payload = self.payload(model, batch, limit)
            self.cells += P.measure_cell(label, paths, payload, self.mode.plans[batch], log)

    def upload(self, name: str, path: FilePath, tensor_fields: list[str] | None,
               **config: Any) -> Any:
        model = self.client.upload_model(name, path)
        if tensor_fields or config:
            model = model.configure(tensor_fields=tensor_fields, **config)
        return model

    def joey_paths(self, pipeline: Any, output: str, json: bool = True,
                   handle: bool = True) -> list[P.Path]:
        from ray import serve

        url = pipeline.url()
        out = [P.joey_sdk_path(pipeline, output), P.joey_http_arrow_path(self.http, url, output)]
        if json:
            out.append(P.joey_http_json_path(self.http, url, output))
        if handle:
            out.append(P.joey_handle_path(serve.get_app_handle(pipeline.app_name()), output))
        return out

    def peer_paths(self, app: str, url: str, output: str) -> list[P.Path]:
        from ray import serve

        return [P.peer_http_path(self.http, url, output),
                P.peer_handle_path(serve.get_app_handle(app), output)]


def run_ccfraud(bench: Bench, timings: dict[str, float]) -> None:
    mode = bench.mode
    directory = bench.scratch / "models"
    model = bench_models.ccfraud(directory)
    bench_models.verify(model, bench.cores)
    bench.results["models"]["ccfraud"] = {
        "params": model.params, "input": f"{model.input_name} float32[N,{model.width}]",
        "outputs": list(model.outputs), "request_column": model.column}

    with phase("ccfraud: deploy", timings):
        peer_app, peer_url = bench.deploy_peer(model)
        one = bench.upload("ccfraud", model.path, ["tensor"])
        one_step = bench.deploy("ccfraud", [one])
        chain_files = bench_models.chain(directory)
        chain_models = [bench.upload(n, f, tf) for n, f, tf in chain_files]
        three_step = bench.deploy("ccfraud-chain3", chain_models)
        batched_model = None
        batching: dict[str, Any] = {"config": BATCHING, "configure_error": None}
        try:
            batched_model = bench.upload("ccfraud-batched", model.path, ["tensor"],
                                         dynamic_batching_config=BATCHING)
        except Exception as exc:
            batching["configure_error"] = f"{type(exc).__name__}: {exc}"
            log(f"dynamic batching: configure raised {batching['configure_error']}; "
                "measuring the pipeline without it")
            batched_model = bench.upload("ccfraud-batched", model.path, ["tensor"])
        batched = bench.deploy("ccfraud-batched", [batched_model])
        bench.results["batching"] = batching
        # fuse_steps(False): every model a deployment of its own behind a separate ingress
        # (one Serve hop per step; the layout joey used by default before placement)
        one_separate = bench.deploy("ccfraud-separate", [one], fuse=False)
        three_separate = bench.deploy("ccfraud-chain3-separate", chain_models, fuse=False)
        batched_separate = bench.deploy("ccfraud-separate-batched", [batched_model], fuse=False)

    with phase("ccfraud: batch sweep", timings):
        limit_session = ort_session(model.path, bench.cores)
        paths = [P.limit_path([limit_session]), *bench.peer_paths(peer_app, peer_url, "dense_1"),
                 *bench.joey_paths(one_step, "dense_1"),
                 P.joey_http_arrow_path(bench.http, one_separate.url(), "dense_1",
                                        name="joey-separate"),
                 P.joey_http_arrow_path(bench.http, one_step.url(), "dense_1",
                                        name="joey-out", params=P.JOEY_OUT_PARAMS)]
        bench.sweep("ccfraud", model, paths)
        chain_sessions = [ort_session(f, bench.cores) for _, f, _ in chain_files]
        chain_paths = [P.limit_path(chain_sessions),
                       *bench.joey_paths(three_step, "dense_1", json=False)]
        bench.sweep("ccfraud-3step", model, chain_paths)
        del limit_session, chain_sessions

    with phase("ccfraud: per-request pieces", timings):
        from benchmarks import stages

        bench.results["stages"] = {
            "joey": [stages.joey_stages(model, rows) for rows in stages.ROWS],
            "hop": stages.hop_cost(model)}
        log(f"  pieces: {bench.results['stages']}")

    single = model.table(1, seed=1)
    single_body = P.arrow_file_bytes(single)

    with phase("ccfraud: chain per-step cost", timings):
        def http_call(url: str) -> Callable[[], Any]:
            def call() -> Any:
                answer = bench.http.post(url, content=single_body, headers=P.ARROW_HEADERS,
                                         params=P.JOEY_PARAMS)
                answer.raise_for_status()
                return P.read_arrow_file(answer.content)
            return call

        def sdk_call(pipeline: Any) -> Callable[[], Any]:
            return lambda: pipeline.infer(single, timeout=P.HTTP_TIMEOUT_S)

        samples = P.interleaved_latencies(
            {"1-step http-arrow": http_call(one_step.url()),
             "3-step http-arrow": http_call(three_step.url()),
             "1-step sdk": sdk_call(one_step), "3-step sdk": sdk_call(three_step),
             "1-step separate http-arrow": http_call(one_separate.url()),
             "3-step separate http-arrow": http_call(three_separate.url()),
             "1-step separate sdk": sdk_call(one_separate),
             "3-step separate sdk": sdk_call(three_separate)},
            mode.chain_rounds, mode.chain_per_round, mode.chain_budget_s)
        chain: dict[str, Any] = {name: s.to_dict() for name, s in samples.items()}
        for transport in ("http-arrow", "sdk", "separate http-arrow", "separate sdk"):
            p1 = chain[f"1-step {transport}"]["p50_ms"]
            p3 = chain[f"3-step {transport}"]["p50_ms"]
            per_step = (p3 - p1) / 2 if p1 is not None and p3 is not None else None
            chain[f"per_extra_step_{transport.replace(' ', '-')}_ms"] = per_step
            log(f"  chain {transport}: 1-step p50 {p1} ms, 3-step p50 {p3} ms, "
                f"per extra step {per_step} ms")
        bench.results["chain"] = chain

    with phase("ccfraud: experiments", timings):
        run_experiments(bench, model, one, one_step, http_call)

    with phase("ccfraud: inference log", timings):
        run_logging(bench, model, one_step, http_call)

    with phase("ccfraud: small requests", timings):
        # Serve's default max_ongoing_requests (5) made the minimal peer collapse under 32
        # clients behind Serve's Python proxy (it backs off while the replica is full); the
        # tuned peer shows what the same code does with a queue as deep as joey's ingress
        # allows (64), and is the peer the targets compare joey with.
        tuned_app, tuned_url = bench.deploy_peer(model, max_ongoing_requests=PEER_TUNED_ONGOING)
        loads = []
        targets = [("joey", one_step.url(), P.JOEY_PARAMS),
                   ("joey-batched", batched.url(), P.JOEY_PARAMS),
                   ("joey-separate", one_separate.url(), P.JOEY_PARAMS),
                   ("joey-separate-batched", batched_separate.url(), P.JOEY_PARAMS),
                   ("peer", peer_url, []), ("peer-tuned", tuned_url, [])]
        for concurrency in mode.concurrency:
            for name, url, params in targets:
                result = P.run_load(name, url, single_body, params, concurrency,
                                    mode.load_duration_s, mode.load_max_requests,
                                    mode.load_warmup_s)
                d = result.to_dict()
                loads.append(d)
                log(f"  {name:21s} c={concurrency:<3d} {d['requests_per_s'] or 0:8.1f} req/s "
                    f"p50 {d['p50_ms'] or 0:7.2f} ms p99 {d['p99_ms'] or 0:7.2f} ms "
                    f"n={d['requests']} failures={d['failures']}")
        bench.results["small_requests"] = loads
        bench.results["peer_tuned_max_ongoing_requests"] = PEER_TUNED_ONGOING
        bench.delete_peer(tuned_app)

    with phase("ccfraud: cold start", timings):
        colds = []
        for index in range(mode.cold_repeats):
            pipeline = bench.client.build_pipeline(f"cold-{index}").clear().add_model_step(one)
            entry: dict[str, Any] = {"repeat": index, "error": None}
            started = time.monotonic()
            try:
                pipeline.deploy()
                bench.pipelines.append(pipeline)
                entry["deploy_returned_s"] = time.monotonic() - started
                deadline = started + 60
                while True:
                    try:
                        pipeline.infer(single, timeout=10)
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                entry["first_answer_s"] = time.monotonic() - started
            except Exception as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            undeploy_started = time.monotonic()
            bench.undeploy(pipeline)
            entry["undeploy_s"] = time.monotonic() - undeploy_started
            log(f"  cold start {index}: {entry}")
            colds.append(entry)
        bench.results["cold_start"] = colds

    with phase("ccfraud: undeploy", timings):
        for pipeline in (one_step, three_step, batched, one_separate, three_separate,
                         batched_separate):
            bench.undeploy(pipeline)
        bench.delete_peer(peer_app)


def run_aloha(bench: Bench, timings: dict[str, float]) -> None:
    directory = bench.scratch / "models"
    model = bench_models.aloha(directory)
    bench_models.verify(model, bench.cores)
    session = ort_session(model.path, bench.cores)
    rows = model.rows(10_000, seed=5)
    session.run(None, {model.input_name: rows[:100]})
    probe = []
    for _ in range(3):
        started = time.perf_counter()
        session.run(None, {model.input_name: rows})
        probe.append(time.perf_counter() - started)
    bench.results["models"]["aloha"] = {
        "params": model.params, "input": f"{model.input_name} float32[N,{model.width}]",
        "outputs": list(model.outputs), "request_column": model.column,
        "architecture": model.notes, "bare_ort_10000_rows_s": sorted(probe)}
    log(f"aloha: {model.params:,} parameters; 10,000 rows in bare onnxruntime: "
        f"{', '.join(f'{t:.2f}s' for t in probe)}")

    with phase("aloha: deploy", timings):
        peer_app, peer_url = bench.deploy_peer(model)
        uploaded = bench.upload("aloha", model.path, None)
        pipeline = bench.deploy("aloha", [uploaded])

    with phase("aloha: batch sweep", timings):
        output = model.outputs[0]
        paths = [P.limit_path([session]), *bench.peer_paths(peer_app, peer_url, output),
                 *bench.joey_paths(pipeline, output)]
        bench.sweep("aloha", model, paths)
        del session

    with phase("aloha: undeploy", timings):
        bench.undeploy(pipeline)
        bench.delete_peer(peer_app)


def run_aloha_tf(bench: Bench, timings: dict[str, float]) -> None:
    """The Aloha architecture as a TensorFlow SavedModel: joey against TensorFlow called directly."""
    import tensorflow as tf

    from joey.runtimes.tensorflow import saved_model_dir

    directory = bench.scratch / "models"
    with phase("aloha-tf: build + upload", timings):
        zipped = bench_models.aloha_savedmodel(directory)
        loaded = tf.saved_model.load(str(saved_model_dir(zipped)))
        signature = loaded.signatures["serving_default"]
        uploaded = bench.client.upload_model("aloha-tf", zipped, framework="tensorflow")
        bench.results["tensorflow_aloha"] = {"runtime": uploaded.config().runtime(),
                                             "conversion": uploaded.config().conversion()}
        pipeline = bench.deploy("aloha-tf", [uploaded])
    output = sorted(bench_models.ALOHA_HEADS)[0]
    model = bench_models.BenchModel("aloha", zipped, "text_input", "text_input", bench_models.ALOHA_SEQ,
                                    bench_models.ALOHA_HEADS, 0)

    def tensorflow_call(p: P.Payload) -> Any:
        # a list whose first item is the compared output, as the onnxruntime limit answers
        return [np.asarray(signature(text_input=tf.constant(p.rows))[output])]

    direct = P.Path("limit", tensorflow_call, lambda answer: np.asarray(answer[0]))
    with phase("aloha-tf: batch sweep", timings):
        paths = [direct, P.joey_sdk_path(pipeline, output), P.joey_http_arrow_path(bench.http, pipeline.url(), output)]
        bench.sweep("aloha-tf", model, paths)
    with phase("aloha-tf: undeploy", timings):
        bench.undeploy(pipeline)
    del loaded


def run_profile(bench: Bench, timings: dict[str, float], out: FilePath, readme: FilePath,
                date: str, machine: str) -> None:
    """``benchmarks.profile`` on this run's Ray and Serve: py-spy on the single-row hot path.
    py-spy failing to attach is written into the profile's report, never raised."""
    with phase("profile", timings):
        from benchmarks import profile as hot_path

        try:
            bench.results["profile"] = hot_path.profile_pipeline(
                bench, out, readme, date, machine, log)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log(f"profile failed: {error}")
            bench.results["profile"] = {"error": error, "failures": 1}


def run_experiments(bench: Bench, model: bench_models.BenchModel, one: Any, one_step: Any,
                    http_call: Callable[[str], Callable[[], Any]]) -> None:
    """What a two-way random split and a shadow deploy with one challenger add to the
    single-step path (single row, HTTP Arrow, p50, interleaved), and the ingress's price of
    routing 10,000 rows by a hash key (in-process, median)."""
    import numpy as np
    import pyarrow as pa

    from joey.deployments import routing

    other = bench.upload("ccfraud-b", model.path, ["tensor"])
    split = bench.client.build_pipeline("ccfraud-split").clear().add_random_split([(1, one), (1, other)])
    split.deploy()
    shadow = bench.client.build_pipeline("ccfraud-shadow").clear().add_shadow_deploy(one, [other])
    shadow.deploy()
    bench.pipelines += [split, shadow]
    mode = bench.mode
    samples = P.interleaved_latencies(
        {"1-step": http_call(one_step.url()), "random split": http_call(split.url()),
         "shadow": http_call(shadow.url())},
        mode.chain_rounds, mode.chain_per_round, mode.chain_budget_s)
    experiments: dict[str, Any] = {name: s.to_dict() for name, s in samples.items()}
    base = experiments["1-step"]["p50_ms"]
    for name in ("random split", "shadow"):
        p50 = experiments[name]["p50_ms"]
        experiments[f"{name} extra p50 ms"] = None if base is None or p50 is None else p50 - base
    keys = pa.array([f"session-{i}" for i in range(10_000)])
    data = {"tensor": np.zeros((10_000, model.width), dtype=np.float32)}
    costs = []
    for _ in range(30):
        begun = time.perf_counter()
        chosen = routing.hash_branches(keys, [1, 1])
        parts = routing.partition(chosen, 2)
        answers = [(rows, routing.take_rows(data, rows)) for rows in parts]
        routing.merge_rows(answers, 10_000)
        costs.append(time.perf_counter() - begun)
    experiments["hash routing 10000 rows ms (median)"] = float(np.median(costs) * 1000)
    log(f"  experiments: {experiments}")
    bench.results["experiments"] = experiments
    for pipeline in (split, shadow):
        bench.undeploy(pipeline)


def run_logging(bench: Bench, model: bench_models.BenchModel, one_step: Any,
                http_call: Callable[[str], Callable[[], Any]]) -> None:
    """Logging on vs off (same model, same run, interleaved): single-row HTTP p50 and
    batch-10,000 HTTP Arrow throughput; ``logs(limit=100)`` and ``export_logs`` over a
    synthetic log of 1,000,000 rows."""
    import numpy as np
    import pyarrow as pa

    import joey
    from joey.logs.writer import SegmentWriter
    from joey.platform.logs import export, query
    from joey.tables import DatasetFilter

    quiet = joey.Client(settings=bench.client.settings.model_copy(update={"inference_log": False}))
    unlogged = quiet.upload_model("ccfraud-unlogged", model.path).configure(tensor_fields=["tensor"])
    off = quiet.build_pipeline("ccfraud-unlogged").clear().add_model_step(unlogged)
    off.deploy()
    bench.pipelines.append(off)
    mode = bench.mode
    single = P.interleaved_latencies({"log on": http_call(one_step.url()), "log off": http_call(off.url())},
                                     mode.chain_rounds, mode.chain_per_round, mode.chain_budget_s)
    big = P.arrow_file_bytes(model.table(10_000, seed=3))

    def batch_call(url: str) -> Callable[[], Any]:
        def call() -> Any:
            answer = bench.http.post(url, content=big, headers=P.ARROW_HEADERS, params=P.JOEY_PARAMS)
            answer.raise_for_status()
            return answer
        return call

    batch = P.interleaved_latencies({"log on": batch_call(one_step.url()), "log off": batch_call(off.url())},
                                    4, 3, 30.0, settle_s=0.0)
    result: dict[str, Any] = {f"single {k}": v.to_dict() for k, v in single.items()}
    result.update({f"batch10000 {k}": v.to_dict() for k, v in batch.items()})
    on, off_p50 = result["single log on"]["p50_ms"], result["single log off"]["p50_ms"]
    result["single-row p50 cost ms"] = None if on is None or off_p50 is None else on - off_p50
    b_on, b_off = result["batch10000 log on"]["p50_ms"], result["batch10000 log off"]["p50_ms"]
    result["batch10000 rows/s on/off"] = None if not b_on or not b_off else b_off / b_on
    # a synthetic log of 1,000,000 answered ccfraud rows, as ten replicas' segments
    log_dir = str(bench.scratch / "million-log")
    rows = model.table(10_000, seed=5)
    writers = [SegmentWriter(log_dir, f"replica-{i}") for i in range(10)]
    start_ms = int(time.time() * 1000) - 3_600_000
    for index in range(100):
        times = pa.array(np.full(10_000, start_ms + index * 1000, dtype=np.int64)).cast(pa.timestamp("ms"))
        table = pa.table({"time": times, "in.tensor": rows.column(model.column),
                          "out.dense_1": rows.column(model.column), "anomaly.count": pa.array(np.zeros(10_000, np.uint32))})
        writers[index % 10].write(table)
    for writer in writers:
        writer.close()
    costs = []
    for _ in range(5):
        begun = time.perf_counter()
        table, _, _ = query(log_dir, 100, None, None, None, DatasetFilter.for_sdk(None, None))
        costs.append(time.perf_counter() - begun)
        assert table.num_rows == 100
    result["logs(limit=100) of 1,000,000 rows ms (median)"] = float(np.median(costs) * 1000)
    begun = time.perf_counter()
    peak_before = pa.total_allocated_bytes()
    files = export(log_dir, str(bench.scratch / "exported"), "million", "10GB", None, None, None, None,
                   None, None, None, True)
    result["export_logs 1,000,000 rows s"] = time.perf_counter() - begun
    result["export_logs files"] = len(files)
    result["arrow bytes held after export"] = pa.total_allocated_bytes() - peak_before
    log(f"  inference log: {result}")
    bench.results["inference_log"] = result
    bench.undeploy(off)


def serve_info(bench: Bench) -> dict[str, Any]:
    """How the main run's Serve answers HTTP: HAProxy (``ray::HAProxyManager`` runs) or Serve's
    Python proxy (``ray::ProxyActor``), and joey's settings for it."""
    from benchmarks import profile as hot_path

    titles = [title for _, title in hot_path.ray_processes()]
    if any(t.startswith("ray::HAProxyManager") for t in titles):
        entry = "HAProxy"
    elif any(t.startswith("ray::ProxyActor") for t in titles):
        entry = "Serve's Python proxy"
    else:
        entry = "unknown (no HAProxyManager or ProxyActor process seen)"
    return {"http_entry": entry, "serve_haproxy": bench.settings.serve_haproxy,
            "serve_fast_replicas": bench.settings.serve_fast_replicas}


def run_group(command: list[str], limit_s: float) -> int | None:
    """Run ``command`` in a session of its own (its Ray's processes with it): its exit status,
    or None when it ran past ``limit_s`` and the group was stopped. Ctrl-C stops the group too."""
    import signal
    import subprocess

    child = subprocess.Popen(command, cwd=HERE.parent, start_new_session=True)

    def stop(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    try:
        return child.wait(timeout=limit_s)
    except BaseException as exc:
        stop(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(signal.SIGKILL)
            child.wait()
        if isinstance(exc, subprocess.TimeoutExpired):
            return None
        raise


def run_serve_defaults(results: dict[str, Any], mode: Mode, scratch: FilePath,
                       timings: dict[str, float]) -> None:
    """``benchmarks.serve_defaults`` in a subprocess (its own Ray, shut down when it ends),
    before the main run starts its Ray: the peer on Serve's defaults. Never raises."""
    import json

    with phase("serve defaults (the app without joey, own Ray)", timings):
        out = scratch / "serve-defaults.json"
        command = [sys.executable, "-m", "benchmarks.serve_defaults", "--out", str(out)]
        if mode.quick:
            command.append("--quick")
        limit_s = 300 if mode.quick else 600
        entry: dict[str, Any]
        try:
            returncode = run_group(command, limit_s)
            if out.exists():
                entry = json.loads(out.read_text())
            else:
                stopped = f" (stopped after {limit_s} s)" if returncode is None else ""
                entry = {"error": f"exited {returncode}{stopped} without writing {out.name}",
                         "failures": 1}
        except Exception as exc:
            entry = {"error": f"{type(exc).__name__}: {exc}"[:500], "failures": 1}
        results["serve_defaults"] = entry
        log(f"  serve defaults: {entry.get('summary')}; error {entry.get('error')}")


def count_failures(results: dict[str, Any]) -> dict[str, int]:
    failures = {
        "batch": sum(c["failures"] for c in results.get("batch", [])),
        "chain": sum(v["failures"] for v in results.get("chain", {}).values()
                     if isinstance(v, dict)),
        "experiments": sum(v["failures"] for v in results.get("experiments", {}).values()
                           if isinstance(v, dict)),
        "inference_log": sum(v["failures"] for v in results.get("inference_log", {}).values()
                             if isinstance(v, dict)),
        "small_requests": sum(x["failures"] for x in results.get("small_requests", [])),
        "cold_start": sum(1 for x in results.get("cold_start", []) if x.get("error")),
    }
    if "serve_defaults" in results:  # failed requests on Serve's defaults, or a crash there
        failures["serve_defaults"] = int((results["serve_defaults"] or {}).get("failures") or 0)
    if "profile" in results:  # failed requests under the profile's load, or a profile crash
        failures["profile"] = int((results["profile"] or {}).get("failures") or 0)
    if "hugging_face" in results:
        failures["hugging_face"] = int((results["hugging_face"] or {}).get("failures") or 0)
    if results.get("fatal"):
        failures["fatal"] = 1
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="batches 1 and 1000, fewer repeats")
    parser.add_argument("--out", type=FilePath, default=HERE / "results")
    parser.add_argument("--machine", default=None, help="name in the result file names")
    parser.add_argument("--readme", type=FilePath, default=HERE / "README.md",
                        help="README whose results/targets markers are rewritten")
    parser.add_argument("--models", default="ccfraud,aloha,aloha-tf,hugging-face",
                        help="comma-separated subset (hugging-face: benchmarks/hugging_face.py)")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="py-spy profile of the single-row hot path (default: on in full mode)")
    parser.add_argument("--serve-defaults", action=argparse.BooleanOptionalAction, default=True,
                        help="first measure the peer on a Ray with Serve's defaults, in a "
                             "subprocess (with ccfraud; default: on)")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    wanted = {m.strip() for m in args.models.split(",") if m.strip()}
    want_profile = args.profile if args.profile is not None else not mode.quick

    info = machine_info()
    cores = info["cores"] or 1
    machine = args.machine or machine_name(cores)
    date = dt.date.today().isoformat()
    results: dict[str, Any] = {
        "date": date, "machine": machine, "quick": mode.quick,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": info, "loadavg_start": loadavg(), "models": {},
        "batch_sizes": list(mode.batches),
        "plans": {str(b): asdict(plan) for b, plan in mode.plans.items()},
        "small_request_settings": {"duration_s": mode.load_duration_s,
                                   "warmup_s": mode.load_warmup_s,
                                   "concurrency": list(mode.concurrency),
                                   "max_requests": mode.load_max_requests},
        # the SDK and handle ratios of the last full run before placement, to compare with
        "baseline": report.baseline_summary(report.BASELINE),
    }
    timings: dict[str, float] = {}
    log(f"joey benchmarks ({'quick' if mode.quick else 'full'}) on {machine}: "
        f"{cores} cores, {info['cpu_model']}, load {results['loadavg_start']}")

    with tempfile.TemporaryDirectory(prefix="joey-bench-") as tmp:
        scratch = FilePath(tmp)
        (scratch / "models").mkdir()
        bench: Bench | None = None
        if args.serve_defaults and "ccfraud" in wanted:
            run_serve_defaults(results, mode, scratch, timings)
        try:
            with phase("start ray + serve", timings):
                bench = Bench(mode, scratch)
            bench.results = results
            results["serve"] = serve_info(bench)
            log(f"Serve: {results['serve']}")
            if "ccfraud" in wanted:
                run_ccfraud(bench, timings)
            if "aloha" in wanted:
                run_aloha(bench, timings)
            if "aloha-tf" in wanted:
                run_aloha_tf(bench, timings)
            if "hugging-face" in wanted:  # results["hugging_face"]; README section of its own
                from benchmarks import hugging_face

                hugging_face.run(bench, timings, phase, log)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            results["fatal"] = f"{type(exc).__name__}: {exc}"[:500]
        except BaseException:  # Ctrl-C: clean up, no profile
            want_profile = False
            raise
        finally:
            if bench is not None and want_profile:  # also after a failed phase; never raises
                run_profile(bench, timings, args.out, args.readme, date, machine)
            if bench is not None:
                results["batch"] = [c.to_dict() for c in bench.cells]
                with phase("cleanup", timings):
                    bench.cleanup()
            with contextlib.suppress(Exception):
                from ray import serve

                serve.shutdown()
            with contextlib.suppress(Exception):
                import ray

                ray.shutdown()

    results["loadavg_end"] = loadavg()
    results["phases_s"] = timings
    results["elapsed_s"] = round(time.monotonic() - _STARTED, 1)
    results["failures"] = count_failures(results)
    written = report.write_all(results, args.out, args.readme)
    for path in written:
        log(f"wrote {path}")
    print(report.console_summary(results), flush=True)
    if "hugging_face" in results:
        from benchmarks import hugging_face

        if args.readme is not None:
            hugging_face.update_readme(args.readme, results)
        print("Hugging Face:\n" + hugging_face.markdown(results), flush=True)
    total = sum(results["failures"].values())
    log(f"finished in {results['elapsed_s']:.1f}s; failures: {results['failures']}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
