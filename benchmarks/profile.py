"""``python -m benchmarks.profile [--out benchmarks/results]``: where a single-row request's time goes.

Deploys the one-step ccfraud pipeline twice, in joey's default layout (one deployment: the
ingress replica runs the model) and in the separate layout (``fuse_steps(False)``: an ingress
replica and a step replica), and the tuned peer (``max_ongoing_requests=64``); drives
``CLIENTS`` concurrent single-row HTTP Arrow clients against each for ``LOAD_S`` seconds, and
meanwhile samples its replicas with
``py-spy record --format raw --rate 200 --duration 6 --nonblocking --pid PID``.

The HTTP entry: joey starts Ray with HAProxy in front of Serve, which forwards straight to the
ingress replicas' own HTTP servers (no Python proxy on the request path). HAProxy is native
code, which py-spy cannot sample: it is listed with its CPU time only (``haproxy`` processes
below this process). Serve still runs its Python proxy actor as HAProxy's fallback server,
off the request path; it is sampled anyway (it shows idle). On a Ray with Serve's Python proxy
as the entry (``JOEY_SERVE_HAPROXY=0``), that actor is the "Serve proxy (the HTTP entry)".

``--nonblocking``: py-spy's default pauses the process for every sample, which here halved the
requests/s under profile, and its idle detection then fails (a paused thread never looks
asleep, so threads waiting on a lock or a queue filled half the samples). Not pausing, py-spy
sees the real thread states and leaves idle threads out.

Alongside, each process's CPU time (``/proc/PID/stat``) over the sampling window, divided by the
requests answered in it: CPU ms per request, per process, including the threads py-spy cannot
see (Ray's C++ core worker). The collapsed stacks are aggregated per process: samples, the
share of samples by package of the innermost Python frame ("self"), and the functions whose
frames occur in the largest share of the samples ("inclusive"; a wrapper that hands at least
90% of its samples to one callee is represented by that callee, so the FastAPI middleware
chain shows as one entry). The report goes to ``results/<date>-<machine>-profile.txt``, a
summary into README.md between the profile markers. py-spy failing to attach (no ptrace
permission, a process that is gone) is written into the report instead of failing the run.

``benchmarks.run`` calls ``profile_pipeline`` with its own Ray and Serve after the main
benchmark (``--profile``, on by default in full mode). ``profile(out, date, machine)`` does the
same on a Ray of its own and returns (report path, report text).
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import argparse
import contextlib
import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

from joey.testing.processes import descendants

if TYPE_CHECKING:
    from benchmarks import paths as P

HERE = FilePath(__file__).resolve().parent
PROFILE_START, PROFILE_END = "<!-- profile:start -->", "<!-- profile:end -->"
RATE_HZ = 200
SAMPLE_S = 6
LOAD_S = 8.0
WARMUP_S = 1.0
CLIENTS = 8
TOP = 15
README_TOP = 5
PASS_THROUGH = 0.9
PIPELINE = "ccfraud-profile"
PEER_ONGOING = 64

# Frames that only carry the others (thread start, event loop, thread pool, Ray's task loop):
# present in most samples of a thread, they would fill the inclusive ranking and say nothing.
PLUMBING_FUNCTIONS = {"<module>", "_bootstrap", "_bootstrap_inner", "run", "run_forever",
                      "_run_once", "run_until_complete", "main_loop", "_worker", "_run"}
PLUMBING_FILES = re.compile(r"(^|/)(threading\.py|asyncio/[a-z_]+\.py|concurrent/futures/thread\.py|"
                            r"(ray/_private/)?(workers/default_worker|worker)\.py|<string>)$")


def is_plumbing(frame: str) -> bool:
    match = FRAME.match(frame)
    if not match:
        return False
    return (match["func"].rsplit(".", 1)[-1] in PLUMBING_FUNCTIONS
            and bool(PLUMBING_FILES.search(match["file"])))


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")

# (substring of py-spy's short file name, package label), first match wins
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("onnxruntime", "onnxruntime"),
    ("pyarrow", "pyarrow"),
    ("joey/", "joey"),
    ("fastapi/", "fastapi"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn (HTTP server)"),
    ("h11", "uvicorn (HTTP server)"),
    ("httptools", "uvicorn (HTTP server)"),
    ("ray/serve/", "ray.serve"),
    ("ray/", "ray core"),
    ("grpc", "grpc"),
    ("asyncio/", "asyncio"),
    ("json/", "json"),
    ("orjson", "json"),
    ("pydantic", "pydantic"),
    ("numpy", "numpy"),
    ("pandas", "pandas"),
    ("threading.py", "threads/queues"),
    ("concurrent/", "threads/queues"),
    ("queue.py", "threads/queues"),
    ("selectors.py", "asyncio"),
    ("logging/", "logging"),
)

# ---------------------------------------------------------------- processes


def py_spy_binary() -> str | None:
    beside = FilePath(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def ray_processes() -> list[tuple[int, str]]:
    """(pid, title) of every process whose title (Ray sets it) starts with ``ray::``: those of
    the Ray this process started (its descendants) when there are any, so another Ray on the
    same machine (a test run) is never sampled; else every one (a Ray joined, not started)."""
    found = []
    for entry in FilePath("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                "utf-8", "replace").strip()
        except OSError:
            continue
        if title.startswith("ray::"):
            found.append((int(entry.name), title))
    mine = descendants(os.getpid())
    return sorted([p for p in found if p[0] in mine] or found)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (all its threads)."""
    try:
        fields = FilePath(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def find_process(processes: Sequence[tuple[int, str]], prefix: str) -> tuple[int | None, str]:
    """The first process whose title starts with ``prefix`` (Ray appends the running method)."""
    for pid, title in processes:
        if title.startswith(prefix):
            return pid, title
    return None, f"no process titled {prefix}*"


def haproxy_pids() -> list[int]:
    """The HAProxy processes serving this process's Ray (its descendants named ``haproxy``;
    during a reload the old one finishes beside the new one). HAProxy is native code: py-spy
    cannot sample it, so it is accounted by CPU time only."""
    found = []
    for pid in sorted(descendants(os.getpid())):
        try:
            name = FilePath(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name == "haproxy":
            found.append(pid)
    return found


# ---------------------------------------------------------------- sampling


@dataclass
class Capture:
    """One process's py-spy samples."""

    label: str
    pid: int | None
    title: str
    stacks: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    error: str | None = None
    command: str = ""

    @property
    def samples(self) -> int:
        return sum(count for _, count in self.stacks)


def record(targets: Sequence[tuple[str, int | None, str]], scratch: FilePath,
           rate_hz: int = RATE_HZ, duration_s: int = SAMPLE_S) -> list[Capture]:
    """Run one ``py-spy record`` per target at once; wait for all (bounded)."""
    binary = py_spy_binary()
    captures = [Capture(label, pid, title) for label, pid, title in targets]
    running: list[tuple[Capture, subprocess.Popen[bytes], FilePath]] = []
    for index, capture in enumerate(captures):
        if binary is None:
            capture.error = "py-spy not found (beside the interpreter or on PATH)"
            continue
        if capture.pid is None:
            capture.error = capture.title
            continue
        raw = scratch / f"pyspy-{index}-{capture.pid}.txt"
        command = [binary, "record", "--format", "raw", "--rate", str(rate_hz),
                   "--duration", str(duration_s), "--nonblocking", "--output", str(raw),
                   "--pid", str(capture.pid)]
        capture.command = " ".join(command[1:])
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            capture.error = f"could not start py-spy: {exc}"
            continue
        running.append((capture, process, raw))
    deadline = time.monotonic() + duration_s + 30
    for capture, process, raw in running:
        try:
            output, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            capture.error = f"py-spy did not finish within {duration_s + 30} s"
        text = output.decode("utf-8", "replace").strip()
        if process.returncode != 0 and capture.error is None:
            capture.error = f"py-spy exited {process.returncode}: {text[-500:]}"
        if raw.exists():
            capture.stacks = parse_raw(raw.read_text(errors="replace"))
        elif capture.error is None:
            capture.error = f"py-spy wrote no samples: {text[-500:]}"
    return captures


# ---------------------------------------------------------------- aggregation


def frame_key(frame: str) -> str:
    """``func (file:line)`` -> ``func (file)``: one entry per function, not per line."""
    match = FRAME.match(frame.strip())
    return f"{match['func']} ({match['file']})" if match else frame.strip()


def parse_raw(text: str) -> list[tuple[tuple[str, ...], int]]:
    """py-spy's raw (collapsed) format: ``root;...;leaf COUNT`` per line."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.strip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((tuple(frame_key(f) for f in stack.split(";")), int(count)))
    return stacks


def category(frame: str) -> str:
    match = FRAME.match(frame)
    name = match["file"] if match else frame
    for needle, label in CATEGORIES:
        if needle in name:
            return label
    return "other"


@dataclass
class Summary:
    samples: int
    inclusive: list[tuple[str, float]]
    self_functions: list[tuple[str, float]]
    self_packages: list[tuple[str, float]]


def summarize(stacks: Sequence[tuple[tuple[str, ...], int]], top: int = TOP) -> Summary:
    """Shares of the samples: per function (inclusive, plumbing left out), per leaf function,
    and per package of the leaf frame."""
    total = sum(count for _, count in stacks)
    inclusive: Counter[str] = Counter()
    callees: dict[str, Counter[str]] = {}
    leaf: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        seen: set[str] = set()
        for depth, frame in enumerate(frames):
            if frame in seen:  # recursion: count the outermost call once
                continue
            seen.add(frame)
            inclusive[frame] += count
            callee = frames[depth + 1] if depth + 1 < len(frames) else ""
            callees.setdefault(frame, Counter())[callee] += count
        if frames:
            leaf[frames[-1]] += count
            packages[category(frames[-1])] += count

    def hidden(frame: str) -> bool:
        """Plumbing, or a wrapper whose samples nearly all go to one callee (shown instead)."""
        if is_plumbing(frame):
            return True
        callee, count = callees[frame].most_common(1)[0]
        return callee != "" and count >= PASS_THROUGH * inclusive[frame]

    def shares(counter: Counter[str], n: int, skip: Callable[[str], bool] = lambda _: False
               ) -> list[tuple[str, float]]:
        ranked = [(k, v) for k, v in counter.most_common() if not skip(k)]
        return [(k, 100.0 * v / total) for k, v in ranked[:n]] if total else []

    return Summary(total, shares(inclusive, top, hidden),
                   shares(leaf, 10), shares(packages, 12))


# ---------------------------------------------------------------- load + capture


@dataclass
class Phase:
    """One load (joey or the peer) and the processes sampled meanwhile."""

    name: str
    url: str
    load: dict[str, Any]
    captures: list[Capture]
    window_s: float = 0.0
    requests_in_window: float = 0.0
    cpu: list[dict[str, Any]] = field(default_factory=list)
    """Per process: label, pid, CPU seconds in the window, cores busy, CPU ms per request."""


def drive_and_record(name: str, url: str, body: bytes, params: P.QueryParams,
                     targets: Sequence[tuple[str, int | None, str]], scratch: FilePath,
                     clients: int, load_s: float, sample_s: int,
                     log: Callable[[str], None],
                     unsampled: Sequence[tuple[str, list[int]]] = ()) -> Phase:
    """``clients`` back-to-back single-row clients for ``load_s`` s (after ``WARMUP_S``);
    py-spy starts half a second into the timed part. ``unsampled``: (label, pids) whose CPU
    time is accounted without py-spy (HAProxy, native code)."""
    from benchmarks import paths as P

    box: list[Any] = []

    def load() -> None:
        try:
            box.append(P.run_load(name, url, body, params, clients, load_s, 50_000, WARMUP_S))
        except Exception as exc:
            box.append(exc)

    thread = threading.Thread(target=load, name=f"load-{name}", daemon=True)
    thread.start()
    time.sleep(WARMUP_S + 0.5)
    log(f"  py-spy on {', '.join(f'{label} pid {pid}' for label, pid, _ in targets)}")
    me = os.getpid()
    accounts: list[tuple[str, int | None, list[int]]] = [
        (label, pid, [pid] if pid else []) for label, pid, _ in targets]
    accounts += [(label, pids[0] if len(pids) == 1 else None, list(pids))
                 for label, pids in unsampled]
    sampled = {pid for _, pid, _ in targets if pid} | {p for _, pids in unsampled for p in pids}
    accounts += [("benchmark process (the clients)", me, [me]),
                 ("other Ray processes (raylet, GCS, controller, ...)", None,
                  sorted(descendants(me) - sampled))]
    before = [[cpu_seconds(pid) for pid in pids] for _, _, pids in accounts]
    started = time.monotonic()
    captures = record(targets, scratch, duration_s=sample_s)
    window = time.monotonic() - started
    after = [[cpu_seconds(pid) for pid in pids] for _, _, pids in accounts]
    thread.join(timeout=load_s + WARMUP_S + 60)
    outcome = box[0] if box else RuntimeError("the load did not finish")
    summary: dict[str, Any]
    if isinstance(outcome, BaseException):
        summary = {"name": name, "error": f"{type(outcome).__name__}: {outcome}"[:300],
                   "failures": 1}
    else:
        summary = outcome.to_dict()
    # the window lies inside the timed part, so the load's mean rate applies to it
    requests = (summary.get("requests_per_s") or 0.0) * window
    cpu = []
    for (label, pid, _), first, last in zip(accounts, before, after, strict=True):
        used = sum(b - a for a, b in zip(first, last, strict=True)
                   if a is not None and b is not None)
        cpu.append({"label": label, "pid": pid, "cpu_s": used,
                    "cores": used / window if window else None,
                    "ms_per_request": 1e3 * used / requests if requests else None})
    log(f"  {name}: {summary.get('requests_per_s') or 0:.1f} req/s, p50 "
        f"{summary.get('p50_ms') or 0:.2f} ms, failures {summary.get('failures')}; samples "
        + ", ".join(f"{c.label} {c.samples}{' (' + c.error[:80] + ')' if c.error else ''}"
                    for c in captures))
    return Phase(name, url, summary, captures, window, requests, cpu)


def profile_pipeline(bench: Any, out_dir: FilePath, readme: FilePath | None, date: str,
                     machine: str, log: Callable[[str], None] = print, clients: int = CLIENTS,
                     load_s: float = LOAD_S, sample_s: int = SAMPLE_S) -> dict[str, Any]:
    """Deploy, drive, sample, write the report (and README block); returns the JSON summary.

    ``bench`` is a ``benchmarks.run.Bench`` (Ray and Serve running); what it deploys here is
    removed again before returning.
    """
    from benchmarks import models as bench_models
    from benchmarks import paths as P

    directory = bench.scratch / "profile-models"
    directory.mkdir(parents=True, exist_ok=True)
    model = bench_models.ccfraud(directory)
    body = P.arrow_file_bytes(model.table(1, seed=1))
    pipeline = None
    separate = None
    peer_app = None
    phases: list[Phase] = []
    error = None
    try:
        uploaded = bench.upload(PIPELINE, model.path, ["tensor"])
        pipeline = bench.deploy(PIPELINE, [uploaded])
        separate = bench.deploy(f"{PIPELINE}-separate", [uploaded], fuse=False)
        peer_app, peer_url = bench.deploy_peer(model, max_ongoing_requests=PEER_ONGOING)
        processes = ray_processes()
        ingress = find_process(processes, f"ray::ServeReplica:{pipeline.app_name()}:ingress")
        separate_app = separate.app_name()
        separate_ingress = find_process(processes, f"ray::ServeReplica:{separate_app}:ingress")
        separate_step = find_process(processes, f"ray::ServeReplica:{separate_app}:step-0-")
        peer = find_process(processes, f"ray::ServeReplica:{peer_app}:")
        # The HTTP entry: HAProxy (native code, CPU time only), forwarding straight to the
        # ingress replicas' own HTTP servers, or Serve's Python proxy actor. With HAProxy a
        # proxy actor still runs as HAProxy's fallback server, off the request path: sampled
        # too, to show it idle.
        proxy_pid, proxy_title = find_process(processes, "ray::ProxyActor")
        proxy_label = ("Serve proxy actor (HAProxy's fallback, off the request path)"
                       if haproxy_pids() else "Serve proxy (the HTTP entry)")
        entry: list[tuple[str, int | None, str]] = (
            [(proxy_label, proxy_pid, proxy_title)] if proxy_pid is not None else [])

        def run_phase(name: str, url: str, params: P.QueryParams,
                      replicas: list[tuple[str, int | None, str]]) -> None:
            haproxy = haproxy_pids()
            unsampled = [("HAProxy (HTTP entry; native code, not sampled)", haproxy)] \
                if haproxy else []
            phases.append(drive_and_record(name, url, body, params, [*entry, *replicas],
                                           FilePath(tmp), clients, load_s, sample_s, log,
                                           unsampled))

        with tempfile.TemporaryDirectory(prefix="joey-profile-") as tmp:
            run_phase("joey", pipeline.url(), P.JOEY_PARAMS,
                      [("joey ingress replica (runs the model; default layout)", *ingress)])
            run_phase("joey-separate", separate.url(), P.JOEY_PARAMS,
                      [("joey ingress replica (separate layout)", *separate_ingress),
                       ("joey step replica (separate layout)", *separate_step)])
            run_phase("peer-tuned", peer_url, [], [("peer replica", *peer)])
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        log(f"  profile failed: {error}")
    finally:
        for deployed in (pipeline, separate):
            if deployed is not None:
                bench.undeploy(deployed)
        if peer_app is not None:
            bench.delete_peer(peer_app)

    header = {"date": date, "machine": machine, "cores": os.cpu_count(), "clients": clients,
              "load_s": load_s, "sample_s": sample_s, "rate_hz": RATE_HZ, "error": error,
              "py_spy": py_spy_version()}
    text = report_text(header, phases)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{date}-{machine}-profile.txt"
    path.write_text(text)
    log(f"wrote {path}")
    if readme is not None:
        update_readme(readme, header, phases, path)
        log(f"wrote {readme}")
    return {
        **header, "report": str(path), "report_relative": _relative(path, readme.parent)
        if readme is not None else str(path),
        "failures": sum(int(p.load.get("failures") or 0) for p in phases) + (1 if error else 0),
        "phases": [{"name": p.name, "load": p.load, "window_s": p.window_s,
                    "requests_in_window": p.requests_in_window, "cpu": p.cpu, "processes": [
            {"label": c.label, "pid": c.pid, "title": c.title, "samples": c.samples,
             "error": c.error,
             "top": [(k, round(v, 1)) for k, v in summarize(c.stacks, README_TOP).inclusive],
             "self_packages": [(k, round(v, 1))
                               for k, v in summarize(c.stacks).self_packages[:README_TOP]]}
            for c in p.captures]} for p in phases],
    }


def py_spy_version() -> str | None:
    binary = py_spy_binary()
    if binary is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=10, check=False)
        return done.stdout.decode().strip() or None
    return None


# ---------------------------------------------------------------- output


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cpu_of(phase: Phase, label: str) -> dict[str, Any]:
    return next((e for e in phase.cpu if e["label"] == label), {})


def _load_line(load: dict[str, Any]) -> str:
    if load.get("error"):
        return f"load failed: {load['error']}"
    return (f"{load.get('requests_per_s') or 0:.1f} req/s, p50 {load.get('p50_ms') or 0:.2f} ms, "
            f"p99 {load.get('p99_ms') or 0:.2f} ms, {load.get('requests')} requests, "
            f"{load.get('failures')} failed")


def report_text(header: dict[str, Any], phases: Sequence[Phase]) -> str:
    out = [
        f"joey hot-path profile: {header['date']} on {header['machine']} "
        f"({header['cores']} cores); {header['py_spy'] or 'py-spy not found'}",
        f"load: {header['clients']} concurrent clients, one single-row HTTP Arrow request each "
        f"at a time, {WARMUP_S:g} s warm-up + {header['load_s']:g} s; py-spy record --format "
        f"raw --rate {header['rate_hz']} --duration {header['sample_s']} (starting 0.5 s into "
        "the timed part; idle threads are not sampled). HAProxy, when it is the HTTP entry, is "
        "native code: CPU time only, no samples.",
        "share = % of the process's samples. 'self by package': package of the innermost Python "
        "frame (time in a C extension counts for the Python function that called it). "
        "'inclusive': samples whose stack contains the function anywhere (thread start, "
        "event-loop and Ray task-loop frames left out); the shares overlap.",
        "",
    ]
    if header.get("error"):
        out += [f"THE PROFILE STOPPED EARLY: {header['error']}", ""]
    for phase in phases:
        out += [f"=== load on {phase.name} ({phase.url}): {_load_line(phase.load)}", ""]
        if phase.cpu:
            out.append(f"CPU over the {phase.window_s:.1f} s sampling window (/proc/PID/stat, all "
                       f"threads), ~{phase.requests_in_window:.0f} requests answered in it:")
            out.append(f"    {'process':62s} {'cores busy':>10s} {'CPU ms/request':>15s}")
            for entry in phase.cpu:
                out.append(f"    {entry['label']:62s} {_num(entry['cores'], 2):>10s} "
                           f"{_num(entry['ms_per_request'], 2):>15s}")
            total = sum(e["cpu_s"] for e in phase.cpu)
            per_request = 1e3 * total / phase.requests_in_window if phase.requests_in_window \
                else None
            cores = total / phase.window_s if phase.window_s else None
            out += [f"    {'all of the above':62s} {_num(cores, 2):>10s} "
                    f"{_num(per_request, 2):>15s}", ""]
        for capture in phase.captures:
            out.append(f"--- {capture.label}: pid {capture.pid}, {capture.title}")
            if capture.command:
                out.append(f"    py-spy {capture.command}")
            if capture.error:
                out.append(f"    ERROR: {capture.error}")
            summary = summarize(capture.stacks)
            if not summary.samples:
                out += ["    no samples", ""]
                continue
            per_s = summary.samples / header["sample_s"]
            out.append(f"    samples: {summary.samples} ({per_s:.0f}/s at {header['rate_hz']}/s "
                       f"per thread: ~{per_s / header['rate_hz']:.2f} threads busy on average)")
            out.append("    self by package:")
            out += [f"      {share:5.1f}%  {name}" for name, share in summary.self_packages]
            out.append(f"    top {TOP} functions, inclusive:")
            out += [f"      {share:5.1f}%  {name}" for name, share in summary.inclusive]
            out.append("    top 10 functions, self (innermost frame):")
            out += [f"      {share:5.1f}%  {name}" for name, share in summary.self_functions]
            out.append("")
    return "\n".join(out) + "\n"


def _relative(path: FilePath, base: FilePath) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def readme_block(header: dict[str, Any], phases: Sequence[Phase], report: FilePath,
                 base: FilePath) -> str:
    lines = [f"Profile: {header['date']} on `{header['machine']}`, {header['clients']} "
             f"concurrent single-row HTTP Arrow clients, py-spy at {header['rate_hz']} Hz for "
             f"{header['sample_s']} s per process; full report: `{_relative(report, base)}`.", ""]
    if header.get("error"):
        lines += [f"**The profile stopped early:** `{header['error']}`", ""]
    lines += ["| load | process | CPU ms / request | samples | self by package (top 5) | "
              "top 5 functions (inclusive) |", "|---|---|---:|---:|---|---|"]
    for phase in phases:
        load = f"{phase.name}: {_load_line(phase.load).split(', p99')[0]}"
        for index, capture in enumerate(phase.captures):
            summary = summarize(capture.stacks, README_TOP)
            packages = "<br>".join(f"{share:.0f}% {name}"
                                   for name, share in summary.self_packages[:README_TOP])
            functions = "<br>".join(f"{share:.0f}% `{name}`" for name, share in summary.inclusive)
            if capture.error:
                functions = (functions + "<br>" if functions else "") + \
                    f"error: {capture.error[:200]}".replace("|", "/").replace("\n", " ")
            ms = _cpu_of(phase, capture.label).get("ms_per_request")
            lines.append(f"| {load if index == 0 else ''} | {capture.label} (pid {capture.pid}) | "
                         f"{_num(ms)} | {summary.samples} | "
                         f"{packages} | {functions} |")
        sampled = {c.label for c in phase.captures}
        for entry in phase.cpu:
            if entry["label"] not in sampled:
                lines.append(f"| | {entry['label']} | {_num(entry['ms_per_request'])} | "
                             "not sampled | | |")
    return "\n".join(lines) + "\n"


def update_readme(readme: FilePath, header: dict[str, Any], phases: Sequence[Phase],
                  report: FilePath) -> None:
    from benchmarks.report import _replace_between

    text = readme.read_text() if readme.exists() else "# joey benchmarks\n"
    block = readme_block(header, phases, report, readme.parent)
    readme.write_text(_replace_between(text, PROFILE_START, PROFILE_END, block))


# ---------------------------------------------------------------- standalone


def _standalone(out: FilePath, readme: FilePath | None, date: str, machine: str,
                clients: int = CLIENTS, load_s: float = LOAD_S) -> dict[str, Any]:
    """Start Ray and Serve (loopback), profile, shut them down again."""
    from benchmarks import run

    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="joey-profile-") as tmp:
        bench = None
        try:
            run.log("== start ray + serve")
            bench = run.Bench(run.QUICK, FilePath(tmp))
            run.log("== profile")
            summary = profile_pipeline(bench, out, readme, date, machine, run.log,
                                       clients=clients, load_s=load_s)
        finally:
            if bench is not None:
                bench.cleanup()
            with contextlib.suppress(Exception):
                from ray import serve

                serve.shutdown()
            with contextlib.suppress(Exception):
                import ray

                ray.shutdown()
    return summary


def profile(out: FilePath, date: str, machine: str, seconds: float = LOAD_S
            ) -> tuple[FilePath, str]:
    """On a Ray of its own: the report's path and text (the README is left alone)."""
    summary = _standalone(out, None, date, machine, load_s=seconds)
    path = FilePath(summary["report"])
    return path, path.read_text()


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=FilePath, default=HERE / "results")
    parser.add_argument("--machine", default=None, help="name in the report's file name")
    parser.add_argument("--readme", type=FilePath, default=HERE / "README.md",
                        help="README whose profile markers are rewritten")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args(argv)
    machine = args.machine or run.machine_name(os.cpu_count() or 1)
    summary = _standalone(args.out, args.readme, dt.date.today().isoformat(), machine,
                          clients=args.clients)
    if summary.get("report"):
        print(FilePath(summary["report"]).read_text(), flush=True)
    run.log(f"profile finished; failed requests or errors: {summary.get('failures', 1)}")
    return 1 if summary.get("failures", 1) else 0


if __name__ == "__main__":
    sys.exit(main())
