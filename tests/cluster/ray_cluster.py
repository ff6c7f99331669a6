"""A Ray cluster of several nodes on this machine (``cluster_daemon.py`` in a process of its
own), and joey drivers that join it, each in a fresh process.

The test session's own Ray is left alone: a process joins one Ray only, so every driver here
is a subprocess with ``JOEY_RAY_ADDRESS`` set to the cluster. Token auth is on, with a token
of the cluster's own passed as Ray documents (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fresh_process import RAY_VARIABLES
from support.waiting import free_port

DAEMON = Path(__file__).with_name("cluster_daemon.py")
START_TIMEOUT_S = 180.0


@dataclass
class RayCluster:
    address: str
    nodes: dict[str, str]
    dashboard: str | None
    env: dict[str, str]
    home: Path
    http_port: int
    token: str
    log: Path = field(default_factory=Path)

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def driver(self, code: str, timeout_s: float = 240.0, env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run ``code`` in a fresh Python process that joins the cluster; the JSON it printed on
        its last ``REPORT `` line."""
        done = subprocess.run([sys.executable, "-c", code], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout_s, cwd=self.home)
        lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
        assert done.returncode == 0 and lines, (done.stdout[-3000:] + done.stderr[-6000:])
        return dict(json.loads(lines[-1].removeprefix("REPORT ")))


@contextmanager
def ray_cluster(home: Path, head: dict[str, Any], workers: dict[str, dict[str, Any]] | None = None,
                ) -> Iterator[RayCluster]:
    """Start the cluster, yield it, and take every process of it down."""
    # Short: Ray's unix sockets live under it and their paths must stay under 108 bytes.
    ray_tmpdir = tempfile.mkdtemp(prefix="jc-", dir="/tmp")
    token = secrets.token_hex(32)
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    env.update({
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_TMPDIR": ray_tmpdir,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "JOEY_HOME": str(home),
        "JOEY_HTTP_PORT": str(http_port),
        # as in an activated virtualenv: a job's `python` is this one
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    })
    log = home / "cluster.log"
    home.mkdir(parents=True, exist_ok=True)
    # Each node's dashboard agent on a free port: Ray's fixed default (52365) is taken by any
    # other Ray on the machine (the test session's own), and a head whose agent cannot bind it
    # answers every job submission "No available agent".
    nodes = {"head": {"dashboard_agent_listen_port": free_port(), **head},
             "workers": {role: {"dashboard_agent_listen_port": free_port(), **args}
                         for role, args in (workers or {}).items()}}
    config = json.dumps(nodes)
    with log.open("w") as err:
        daemon = subprocess.Popen([sys.executable, str(DAEMON), config], env=env, stdout=subprocess.PIPE,
                                  stderr=err, text=True, start_new_session=True)
    try:
        assert daemon.stdout is not None
        line = _first_line(daemon, log)
        started = json.loads(line)
        yield RayCluster(address=started["address"], nodes=started["nodes"], dashboard=started["dashboard"],
                         env={**env, "JOEY_RAY_ADDRESS": started["address"]}, home=home,
                         http_port=http_port, token=token, log=log)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, 9)
            daemon.wait(timeout=30)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)


def _first_line(daemon: subprocess.Popen[str], log: Path) -> str:
    """The daemon's report, or its log when it died or took too long."""
    import selectors

    assert daemon.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(daemon.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=START_TIMEOUT_S):
        raise AssertionError(f"the cluster did not start in {START_TIMEOUT_S}s: {log.read_text()[-4000:]}")
    line = daemon.stdout.readline()
    if not line.strip():
        daemon.wait(timeout=30)
        raise AssertionError(f"the cluster daemon exited: {log.read_text()[-4000:]}")
    return line
