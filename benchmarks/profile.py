"""``python -m benchmarks.profile``: where a single-row request spends its time.

Deploys a one-step ccfraud pipeline, drives concurrent single-row HTTP Arrow clients against
it (bounded in count and time, 127.0.0.1 only), and samples the Serve proxy, the ingress
replica and the step replica with py-spy. Writes a text report of each process's busiest
functions (inclusive share of samples).
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
TOP = 15


def _pids(pattern: str) -> list[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [int(line.split(None, 1)[0]) for line in listing.splitlines()[1:] if re.search(pattern, line)]


def _frame_name(frame: str) -> str:
    match = re.match(r"(.+?) \((.+?):\d+\)", frame.strip())
    if not match:
        return frame.strip()
    function, file = match.groups()
    parts = Path(file).parts
    where = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{function} ({where})"


# Where the CPU goes, by the package of the innermost frame of each sample.
_PACKAGES = (
    ("ray/serve", "Ray Serve (router, proxy, replica bookkeeping)"),
    ("/ray/", "Ray core (actor calls, serialization)"),
    ("fastapi", "FastAPI/Starlette/uvicorn (HTTP)"), ("starlette", "FastAPI/Starlette/uvicorn (HTTP)"),
    ("uvicorn", "FastAPI/Starlette/uvicorn (HTTP)"), ("httptools", "FastAPI/Starlette/uvicorn (HTTP)"),
    ("/joey/", "joey (tables, runner, step)"), ("pyarrow", "pyarrow"),
    ("onnxruntime", "onnxruntime (the model)"), ("asyncio", "asyncio event loop"),
    ("logging", "logging"), ("opentelemetry", "tracing"), ("grpc", "gRPC"),
)


def _package(frame: str) -> str:
    for needle, label in _PACKAGES:
        if needle in frame:
            return label
    return "other Python"


def summarize(raw: str) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """Total samples, top functions by inclusive share, and self time by package."""
    inclusive: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [f for f in stack.split(";") if f.strip()]
        names = {_frame_name(f) for f in frames}
        for name in names - {"Thread._bootstrap (threading.py)", "Thread._bootstrap_inner (threading.py)",
                             "Thread.run (threading.py)", "<module> (workers/default_worker.py)",
                             "Worker.main_loop (_private/worker.py)"}:
            inclusive[name] += samples
        by_package[_package(frames[-1]) if frames else "other Python"] += samples
    if not total:
        return 0, [], []
    ranked = [(name, 100.0 * n / total) for name, n in inclusive.most_common(TOP)]
    packages = [(name, 100.0 * n / total) for name, n in by_package.most_common()]
    return total, ranked, packages


def _drive(url: str, body: bytes, clients: int, seconds: float, stop: threading.Event,
           counts: list[int]) -> None:
    headers = {"Content-Type": "application/vnd.apache.arrow.file",
               "Accept": "application/vnd.apache.arrow.file"}
    params = {"dataset.separator": ".", "dataset.exclude[]": "metadata"}

    def worker() -> None:
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + seconds
            while not stop.is_set() and time.monotonic() < deadline and counts[0] < 20_000:
                answer = http.post(url, content=body, headers=headers, params=params)
                counts[0 if answer.status_code == 200 else 1] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def profile(out: Path, date: str, machine: str, seconds: float = 8.0) -> tuple[Path, str]:
    import joey
    from benchmarks import models as bench_models
    from benchmarks.paths import arrow_file_bytes
    from joey.cluster import ensure_serve

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    lines = [f"py-spy profile of single-row HTTP Arrow requests, one-step ccfraud pipeline, "
             f"8 concurrent clients, {date} on {machine}", ""]
    with tempfile.TemporaryDirectory(prefix="joey-profile-") as tmp:
        scratch = Path(tmp)
        settings = joey.Settings(home=scratch / "home", http_port=_free_port())
        ensure_serve(settings)
        client = joey.Client(settings=settings)
        model = bench_models.ccfraud(scratch)
        uploaded = client.upload_model("prof", model.path).configure(tensor_fields=["tensor"])
        pipeline = client.build_pipeline("prof").add_model_step(uploaded).deploy()
        body = arrow_file_bytes(model.table(1, seed=1))
        targets = {
            "Serve HTTP proxy": _pids(r"ProxyActor"),
            "joey ingress replica": _pids(r"ServeReplica:default-prof:ingress"),
            "joey step replica": _pids(r"ServeReplica:default-prof:step-0"),
        }
        stop = threading.Event()
        counts = [0, 0]
        load = threading.Thread(target=_drive, args=(pipeline.url(), body, 8, seconds + 2, stop, counts))
        load.start()
        time.sleep(1.0)
        spies = {}
        for label, pids in targets.items():
            if not pids:
                lines.append(f"{label}: process not found")
                continue
            target = scratch / f"{pids[0]}.txt"
            spies[label] = (target, subprocess.Popen(
                [py_spy, "record", "--pid", str(pids[0]), "--format", "raw", "--rate", "200",
                 "--duration", str(int(seconds - 2)), "--output", str(target), "--nonblocking"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for label, (target, spy) in spies.items():
            _, err = spy.communicate(timeout=seconds + 30)
            if spy.returncode != 0 or not target.exists():
                lines.append(f"{label}: py-spy failed: {err.strip()[-300:]}")
                continue
            total, ranked, packages = summarize(target.read_text())
            lines.append(f"{label} (pid {targets[label][0]}): {total} busy samples at 200 Hz")
            lines.append("  self time by package (innermost frame):")
            lines += [f"  {share:5.1f}%  {name}" for name, share in packages]
            lines.append("  busiest functions (inclusive):")
            lines += [f"  {share:5.1f}%  {name}" for name, share in ranked]
            lines.append("")
        stop.set()
        load.join()
        lines.append(f"requests answered during the profile: {counts[0]} ok, {counts[1]} failed")
        pipeline.undeploy()
        from ray import serve

        serve.shutdown()
        import ray

        ray.shutdown()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{date}-{machine}-profile.txt"
    text = "\n".join(lines) + "\n"
    target.write_text(text)
    return target, text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    import datetime as dt

    from benchmarks.run import machine_name

    target, text = profile(HERE / "results", dt.date.today().isoformat(), machine_name(os.cpu_count() or 1))
    print(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
