"""Hugging Face in joey: a MiniLM-sized text classifier served by joey vs the same transformers
pipeline called directly, and the deploy times of an isolated environment.

Part of ``python -m benchmarks.run`` (``--models hugging-face`` runs it alone). What it does:

1. builds the transformers-5 environment (``joey.runtimes.environments.ensure_environment``
   with ``hf_tasks.TRANSFORMERS_LINES["5"]``) in the run's envs dir, and in it the model
   (``joey.testing.hf_models build OUT text-classification-minilm``: BERT, hidden 384, 6
   layers, 12 heads, intermediate 1536, 128 positions, ~500 word pieces, 2 labels, random
   weights; nothing is downloaded), uploads it as ``hugging-face-text-classification``;
2. **first deploy**: deploys it from a client whose envs dir is new and empty, so ``deploy()``
   builds the environment again (the time until its ready marker appears is the build time),
   then waits for the first answer; **second deploy**: undeploys and deploys the same pipeline
   again (the environment is there), until the first answer;
3. **throughput** at batch 1 and 64 (one request of N texts, ``top_k`` as joey passes it: the
   output schema's fixed size, 2), interleaved in rounds so a busy moment hits every path
   alike: ``joey-sdk`` (``pipeline.infer(pa.Table)``), ``joey-http-json`` (POST of JSON
   records to ``pipeline.url()``), and ``direct``: this file run by the environment's python
   as a server on stdin/stdout, holding ``transformers.pipeline("text-classification",
   model=dir)``; it times only the pipeline calls. It calls the pipeline as joey's runtime
   does: one text as a string, N texts as one list with ``batch_size=N`` (the same texts, the
   same ``top_k``). Every joey answer is checked against the direct one (labels equal, scores
   within 1e-4).

The direct process runs with torch's defaults (``torch.get_num_threads()`` is recorded).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

FRAMEWORK = "hugging-face-text-classification"
VARIANT = "text-classification-minilm"
BATCHES = (1, 64)
PROTOCOL = "@@joey-bench "
START_MARK, END_MARK = "<!-- hugging-face:start -->", "<!-- hugging-face:end -->"
GOALS = {"x_direct_64": 0.9, "second_deploy_s": 10.0, "first_deploy_s": 90.0}


# ------------------------------------------------------------------ the direct pipeline
# (runs in the model's environment: stdlib and the environment's packages only)


def _direct_server(model_dir: str) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"  # a local model; never the hub
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    import transformers

    pipe = transformers.pipeline("text-classification", model=model_dir, device="cpu")
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the libraries print stays off the protocol
    out.write(PROTOCOL + json.dumps({"threads": torch.get_num_threads(),
                                     "transformers": transformers.__version__,
                                     "torch": torch.__version__}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        texts, kwargs = request["texts"], request["kwargs"]
        argument = texts[0] if len(texts) == 1 else texts
        times, answer = [], None
        for _ in range(int(request["repeats"])):
            begun = time.perf_counter()
            answer = pipe(argument, **kwargs)
            times.append(time.perf_counter() - begun)
        out.write(PROTOCOL + json.dumps({"times": times, "answer": answer}) + "\n")
        out.flush()
    return 0


class Direct:
    """The pipeline called directly, in a subprocess running the environment's python."""

    def __init__(self, python: Path, model_dir: Path, stderr_path: Path) -> None:
        import subprocess

        self._stderr = stderr_path.open("w")
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        # -m from the repository root: run as a file, benchmarks/ would come first on the
        # path and its profile.py would hide the standard library's (torch imports it)
        self._proc = subprocess.Popen(
            [str(python), "-m", "benchmarks.hugging_face", "direct", str(model_dir)],
            cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env={**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        self.info: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL):])  # type: ignore[no-any-return]
        self._stderr.flush()
        tail = Path(self._stderr.name).read_text()[-1500:]
        raise RuntimeError(f"the direct pipeline exited ({self._proc.wait()}): {tail}")

    def call(self, texts: list[str], kwargs: dict[str, Any], repeats: int) -> tuple[list[float], Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"texts": texts, "kwargs": kwargs, "repeats": repeats}) + "\n")
        self._proc.stdin.flush()
        answer = self._read()
        return answer["times"], answer["answer"]

    def close(self) -> None:
        import contextlib
        import subprocess

        with contextlib.suppress(Exception):
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"quit": True}) + "\n")
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


# ------------------------------------------------------------------ the benchmark


def texts(count: int, seed: int) -> list[str]:
    """``count`` sentences of 10 to 40 words of the model's vocabulary (fixed by ``seed``)."""
    import random

    from joey.testing.hf_models import bench_words

    rng = random.Random(seed)
    words = bench_words()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(10, 40))) + "."
            for _ in range(count)]


def _json(python: Path, *args: str, timeout: float = 900) -> Any:
    import subprocess

    done = subprocess.run([str(python), "-m", "joey.testing.hf_models", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"hf_models {args[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same(joey_answer: Any, direct_answer: Any, batch: int) -> str | None:
    """None when joey's labels equal the direct ones and the scores agree within 1e-4."""
    rows = [direct_answer] if batch == 1 else direct_answer
    labels = joey_answer.column("out.label").to_pylist()
    scores = joey_answer.column("out.score").to_pylist()
    if len(labels) != len(rows):
        return f"{len(labels)} answers for {len(rows)} rows"
    for index, row in enumerate(rows):
        want_labels = [a["label"] for a in row]
        want_scores = [a["score"] for a in row]
        if labels[index] != want_labels or any(abs(a - b) > 1e-4 for a, b in
                                                zip(scores[index], want_scores, strict=True)):
            return f"row {index}: joey {labels[index]} {scores[index]}, direct {want_labels} {want_scores}"
    return None


def _first_answer(pipeline: Any, table: Any, started: float, limit_s: float = 120.0) -> float:
    while True:
        try:
            pipeline.infer(table, timeout=30)
            return time.monotonic() - started
        except Exception:
            if time.monotonic() - started > limit_s:
                raise
            time.sleep(0.1)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(bench: Any, timings: dict[str, float], phase: Any, log: Any) -> None:
    """The Hugging Face measurements into ``bench.results["hugging_face"]``; never raises
    (an error is recorded, with ``failures``)."""
    result: dict[str, Any] = {"model": VARIANT, "framework": FRAMEWORK, "failures": 0, "error": None}
    bench.results["hugging_face"] = result
    try:
        _run(bench, timings, phase, log, result)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["failures"] += 1
    result["targets"] = targets(result)


def _run(bench: Any, timings: dict[str, float], phase: Any, log: Any, result: dict[str, Any]) -> None:
    import pyarrow as pa

    import joey
    from joey.runtimes.environments import READY, ensure_environment, environment_key
    from joey.runtimes.hf_tasks import TRANSFORMERS_LINES

    quick = bench.mode.quick
    requirements = TRANSFORMERS_LINES["5"]
    key = environment_key(requirements)
    scratch: Path = bench.scratch / "hugging-face"
    scratch.mkdir(exist_ok=True)
    probe = pa.table({"inputs": texts(1, 99)})

    with phase("hugging-face: environment + model + upload", timings):
        begun = time.monotonic()
        python = ensure_environment(requirements, bench.settings.resolved_envs_dir, log)
        result["env_build_s"] = time.monotonic() - begun
        log(f"  transformers-5 environment built in {result['env_build_s']:.1f}s")
        begun = time.monotonic()
        zipped = Path(_json(python, "build", str(scratch), VARIANT)[VARIANT])
        model_dir = scratch / VARIANT
        result["model_build_s"] = time.monotonic() - begun
        config = json.loads((model_dir / "config.json").read_text())
        result["architecture"] = {k: config.get(k) for k in (
            "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings", "vocab_size")}
        result["architecture"]["labels"] = len(config.get("id2label", {}))
        begun = time.monotonic()
        model = bench.client.upload_model("hf-minilm", zipped, framework=FRAMEWORK)
        result["upload_s"] = time.monotonic() - begun
        log(f"  model built in {result['model_build_s']:.1f}s ({zipped.stat().st_size / 1e6:.0f} MB "
            f"zip), uploaded in {result['upload_s']:.1f}s")

    fresh_envs = scratch / "envs-first-deploy"
    fresh = joey.Client(settings=bench.settings.model_copy(update={"envs_dir": fresh_envs}))
    pipeline = fresh.build_pipeline("hf-minilm").clear().add_model_step(model)
    with phase("hugging-face: first deploy (environment built by deploy)", timings):
        marker = fresh_envs / key / READY
        started = time.monotonic()
        import threading

        ready_at: list[float] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                if marker.exists():
                    ready_at.append(time.monotonic() - started)
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            pipeline.deploy()
            bench.pipelines.append(pipeline)
            deployed = time.monotonic() - started
        finally:
            stop.set()
            watcher.join()
        first = _first_answer(pipeline, probe, started)
        result["first_deploy"] = {"env_build_s": ready_at[0] if ready_at else None,
                                  "deploy_returned_s": deployed, "first_answer_s": first}
        log(f"  first deploy: {result['first_deploy']}")

    with phase("hugging-face: second deploy (environment there)", timings):
        undeployed = time.monotonic()
        bench.undeploy(pipeline)
        result["undeploy_s"] = time.monotonic() - undeployed
        started = time.monotonic()
        pipeline.deploy()
        bench.pipelines.append(pipeline)
        deployed = time.monotonic() - started
        first = _first_answer(pipeline, probe, started)
        result["second_deploy"] = {"deploy_returned_s": deployed, "first_answer_s": first}
        log(f"  second deploy: {result['second_deploy']}")

    with phase("hugging-face: joey vs the pipeline called directly", timings):
        direct = Direct(python, model_dir, scratch / "direct.stderr")
        try:
            result["direct_info"] = direct.info
            # Same threads both ways: a step that reserves less than a CPU gets
            # OMP_NUM_THREADS=1 from Ray; giving the model the direct process's thread count
            # as CPUs (what a user does for a model that should use N cores) matches it.
            threads = int(direct.info.get("threads") or 1)
            result["joey_step_cpus"] = threads
            bench.undeploy(pipeline)
            config = joey.DeploymentConfigBuilder().sidekick_cpus(model, threads).build()
            pipeline.deploy(deployment_config=config)
            bench.pipelines.append(pipeline)
            _first_answer(pipeline, probe, time.monotonic())
            result["throughput"] = _throughput(bench, pipeline, direct, quick, log)
        finally:
            direct.close()
        result["failures"] += sum(c["failures"] for c in result["throughput"])

    with phase("hugging-face: undeploy", timings):
        bench.undeploy(pipeline)


def _throughput(bench: Any, pipeline: Any, direct: Direct, quick: bool, log: Any) -> list[dict[str, Any]]:
    plan = {"rounds": 3 if quick else 6, "warmup": 1 if quick else 2,
            "per_round": {1: 5 if quick else 10, 64: 1 if quick else 2}}
    cells = []
    for batch in BATCHES:
        cell = _measure_batch(bench, pipeline, direct, batch, plan)
        rate = cell["rows_per_s"]
        log(f"  batch {batch}: " + ", ".join(f"{n} {r or 0:.1f} rows/s" for n, r in rate.items())
            + "; joey/direct " + ", ".join(f"{n} {x or 0:.2f}x" for n, x in cell["x_direct"].items())
            + f"; failures {cell['failures']} {cell['errors'][:1]}")
        cells.append(cell)
    return cells


def _measure_batch(bench: Any, pipeline: Any, direct: Direct, batch: int,
                   plan: dict[str, Any]) -> dict[str, Any]:
    import orjson
    import pyarrow as pa

    from benchmarks import paths as P

    top_k = 2  # the default output schema's fixed label/score size, which joey passes as top_k
    url = pipeline.url()
    sentences = texts(batch, seed=batch)
    table = pa.table({"inputs": sentences})
    body = orjson.dumps([{"inputs": s} for s in sentences])
    kwargs: dict[str, Any] = {"top_k": top_k}
    if batch > 1:
        kwargs["batch_size"] = batch  # as joey's runtime calls the pipeline for N rows
    _, reference = direct.call(sentences, kwargs, 1)
    cell: dict[str, Any] = {"batch": batch, "top_k": top_k, "direct_kwargs": kwargs, "plan": plan,
                            "failures": 0, "errors": [],
                            "times_s": {"joey-sdk": [], "joey-http-json": [], "direct": []}}

    def sdk() -> Any:
        return pipeline.infer(table, timeout=P.HTTP_TIMEOUT_S)

    def http() -> Any:
        answer = bench.http.post(url, content=body, headers=P.JSON_HEADERS)
        answer.raise_for_status()
        records = orjson.loads(answer.content)
        return pa.table({"out.label": [r["out"]["label"] for r in records],
                         "out.score": [r["out"]["score"] for r in records]})

    def timed(name: str, call: Any, record: bool) -> None:
        begun = time.perf_counter()
        try:
            answer = call()
        except Exception as exc:
            cell["failures"] += 1
            cell["errors"].append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            return
        spent = time.perf_counter() - begun
        wrong = _same(answer, reference, batch)
        if wrong:
            cell["failures"] += 1
            cell["errors"].append(f"{name}: {wrong}"[:300])
        elif record:
            cell["times_s"][name].append(spent)

    for _ in range(plan["warmup"]):
        timed("joey-sdk", sdk, False)
        timed("joey-http-json", http, False)
    direct.call(sentences, kwargs, plan["warmup"])
    per_round = plan["per_round"][batch]
    for _ in range(plan["rounds"]):
        for _ in range(per_round):
            timed("joey-sdk", sdk, True)
        for _ in range(per_round):
            timed("joey-http-json", http, True)
        times, _ = direct.call(sentences, kwargs, per_round)
        cell["times_s"]["direct"] += times
    cell["errors"] = cell["errors"][:5]
    medians = {name: _median(values) for name, values in cell["times_s"].items()}
    cell["median_s"] = medians
    rate = {name: batch / m if m else None for name, m in medians.items()}
    cell["rows_per_s"] = rate
    base = rate["direct"]
    cell["x_direct"] = {name: None if not value or not base else value / base
                        for name, value in rate.items() if name != "direct"}
    return cell


# ------------------------------------------------------------------ targets and README


def _cell(result: dict[str, Any], batch: int) -> dict[str, Any] | None:
    return next((c for c in result.get("throughput") or [] if c["batch"] == batch), None)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    cell = _cell(result, 64)
    ratio = (cell.get("x_direct") or {}).get("joey-sdk") if cell else None
    http = (cell.get("x_direct") or {}).get("joey-http-json") if cell else None
    out.append({"target": "MiniLM-sized text classification, batch 64: joey SDK rows/s vs the "
                          "pipeline called directly", "goal_text": f"≥ {GOALS['x_direct_64']:g}x",
                "measured": ratio, "unit": "x", "met": None if ratio is None else ratio >= GOALS["x_direct_64"],
                "detail": "" if http is None else f"HTTP JSON records: {http:.2f}x"})
    second = (result.get("second_deploy") or {}).get("first_answer_s")
    out.append({"target": "second deploy (environment there): deploy() to first answer",
                "goal_text": f"< {GOALS['second_deploy_s']:g} s", "measured": second, "unit": " s",
                "met": None if second is None else second < GOALS["second_deploy_s"], "detail": ""})
    first = result.get("first_deploy") or {}
    total = first.get("first_answer_s")
    build = first.get("env_build_s")
    out.append({"target": "first deploy (environment built by deploy()): deploy() to first answer",
                "goal_text": f"< {GOALS['first_deploy_s']:g} s", "measured": total, "unit": " s",
                "met": None if total is None else total < GOALS["first_deploy_s"],
                "detail": "" if build is None else f"of which the environment build {build:.1f} s"})
    return out


def _num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def markdown(results: dict[str, Any]) -> str:
    result = results.get("hugging_face")
    if not result:
        return "_not measured in this run_\n"
    arch = result.get("architecture") or {}
    lines = [f"Model `{result['model']}` uploaded as `{result['framework']}`: "
             + ", ".join(f"{k} {v}" for k, v in arch.items())
             + f"; random weights. Direct pipeline: torch {(result.get('direct_info') or {}).get('torch')}, "
             f"transformers {(result.get('direct_info') or {}).get('transformers')}, "
             f"{(result.get('direct_info') or {}).get('threads')} torch threads; joey's step "
             f"given `sidekick_cpus(model, {result.get('joey_step_cpus')})` (Ray sets its "
             "OMP_NUM_THREADS to that)"
             f". Failures: {result.get('failures')}"
             + (f"; error: `{result['error']}`" if result.get("error") else "") + ".", "",
             "| batch | direct rows/s | joey SDK rows/s | joey/direct (SDK) | joey HTTP JSON rows/s | "
             "joey/direct (HTTP) | direct median ms | joey SDK median ms |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cell in result.get("throughput") or []:
        rate, ratio, median = cell["rows_per_s"], cell["x_direct"], cell["median_s"]
        lines.append(f"| {cell['batch']} | {_num(rate['direct'])} | {_num(rate['joey-sdk'])} | "
                     f"{_num(ratio['joey-sdk'], 2, 'x')} | {_num(rate['joey-http-json'])} | "
                     f"{_num(ratio['joey-http-json'], 2, 'x')} | "
                     f"{_num(median['direct'] and median['direct'] * 1e3)} | "
                     f"{_num(median['joey-sdk'] and median['joey-sdk'] * 1e3)} |")
    first, second = result.get("first_deploy") or {}, result.get("second_deploy") or {}
    lines += ["", "| deploy | environment build s | deploy() returned s | first answer s |",
              "|---|---:|---:|---:|",
              f"| first (new envs dir: deploy() builds the environment) | {_num(first.get('env_build_s'))} | "
              f"{_num(first.get('deploy_returned_s'))} | {_num(first.get('first_answer_s'))} |",
              f"| second (after undeploy; environment there) | - | {_num(second.get('deploy_returned_s'))} | "
              f"{_num(second.get('first_answer_s'))} |", "",
              f"Also: the same environment built by `ensure_environment` before the model "
              f"{_num(result.get('env_build_s'))} s; upload (environment there, load probe) "
              f"{_num(result.get('upload_s'))} s; undeploy {_num(result.get('undeploy_s'), 2)} s.", "",
              "| target | goal | measured | met | detail |", "|---|---|---|---|---|"]
    for t in result.get("targets") or []:
        met = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {t['goal_text']} | {_num(t['measured'], 2, t['unit'])} | "
                     f"{met} | {t['detail']} |")
    lines += ["", "Rows/s: rows per request / median request time, each path warmed up, then "
              "called in interleaved rounds (joey SDK, joey HTTP, direct). The direct pipeline "
              "gets the same texts, `top_k` as joey passes it, and `batch_size` = the rows of "
              "the request (one forward pass), as joey's runtime calls it; it times only the "
              "pipeline call, joey's times include the whole request."]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    """Rewrite the Hugging Face section between its markers (appended when absent)."""
    from benchmarks.report import _replace_between

    text = readme.read_text() if readme.exists() else "# joey benchmarks\n"
    readme.write_text(_replace_between(text, START_MARK, END_MARK, markdown(results)))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "direct":
    sys.exit(_direct_server(sys.argv[2]))
