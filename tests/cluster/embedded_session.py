"""A plain script that uses joey embedded, as a user's would; run by tests/cluster in a fresh process.

    python embedded_session.py [--import-ray-first] [--start-only]

Settings come from JOEY_* variables. It uploads a tiny ONNX model, deploys a pipeline and
runs one inference (``--start-only``: only starts joey's Ray), then prints one line
``REPORT {json}``: Ray's node addresses, every TCP socket listening in the processes
this script started (Ray's, which all descend from it), and the inference's output.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    from joey.testing.processes import descendants as below

    return {pid, *below(pid)}


def _socket_owners(pids: set[int]) -> dict[int, int]:
    """Socket inode -> the pid holding it."""
    owners: dict[int, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                owners[int(link[8:-1])] = pid
    return owners


def _ip(hex_ip: str) -> str:
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6: four 32-bit words, each in host (little-endian) order
    words = struct.unpack("<4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def listening_sockets(pids: set[int]) -> list[dict[str, object]]:
    """Every listening TCP socket (IPv4 and IPv6) held by one of ``pids``."""
    owners = _socket_owners(pids)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            inode = int(fields[9])
            if fields[3] != _LISTEN or inode not in owners:
                continue
            hex_ip, hex_port = fields[1].split(":")
            pid = owners[inode]
            found.append({"ip": _ip(hex_ip), "port": int(hex_port, 16), "pid": pid,
                          "process": _comm(pid)})
    return found


def deploy_and_infer() -> tuple[list[float], int]:
    """Upload a tiny ONNX model, deploy a one-step pipeline, run one inference through the SDK
    and one over HTTP (its status is returned)."""
    import httpx
    import numpy as np
    import pyarrow as pa

    import joey
    from joey.testing.onnx_models import mlp

    client = joey.Client()
    model_file = mlp(Path(tempfile.mkdtemp()) / "m.onnx")
    model = client.upload_model("probe", model_file).configure(tensor_fields=["tensor"])
    pipeline = client.build_pipeline("probe").add_model_step(model).deploy()
    x = np.zeros((1, 29), np.float32)
    table = pa.table({"tensor": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 29)})
    result = pipeline.infer(table)
    answer = httpx.post(pipeline.url(), json=[{"tensor": [0.0] * 29}], timeout=30)
    return [float(v) for v in result.column("out.dense_1").combine_chunks().flatten().to_numpy()], answer.status_code


def main() -> None:
    if "--import-ray-first" in sys.argv:
        import ray  # the user's own import, before joey's

    started = time.monotonic()
    if "--start-only" in sys.argv:
        from joey.cluster import ensure_ray
        from joey.config import Settings

        ensure_ray(Settings())
        output: list[float] = []
        http_status = 0
    else:
        output, http_status = deploy_and_infer()
    import ray

    listening = listening_sockets(descendants(os.getpid()))
    for _ in range(10 if output else 0):  # HAProxy swaps processes on each reload: list again
        if any(s["process"] == "haproxy" for s in listening):
            break
        time.sleep(0.5)
        listening = listening_sockets(descendants(os.getpid()))
    report = {
        "nodes": [node["NodeManagerAddress"] for node in ray.nodes()],
        "gcs_address": ray.get_runtime_context().gcs_address,
        "listening": listening,
        "output": output,
        "http_status": http_status,
        # Serve's switches joey gave its Ray must not stay in the SDK's own process
        "serve_env": sorted(name for name in os.environ if name.startswith("RAY_SERVE_")),
        "seconds": round(time.monotonic() - started, 1),
    }
    print("REPORT " + json.dumps(report), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
