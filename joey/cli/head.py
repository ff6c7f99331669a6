"""``joey up`` / ``joey down``: a local Ray head that outlives the command, and how the other
commands find it.

``joey up`` runs ``ray start --head --block`` as a detached process (a session of its own,
output to ``JOEY_HOME/ray-head.log``), every Ray process on 127.0.0.1, the dashboard on (Ray
jobs and ``serve deploy`` talk to it), Ray's token auth as the user's environment says
(``disabled`` unless ``RAY_AUTH_MODE`` is set), HAProxy as Serve's HTTP entry (its files in a
short temp folder: see :func:`_haproxy_dir`), then starts Serve on
``JOEY_HTTP_HOST:JOEY_HTTP_PORT`` by joining that head from a child process. What it started is
recorded in ``JOEY_HOME/ray-head.json``; ``joey down`` stops exactly that process and everything
in its session, and removes the record and HAProxy's folder.

``ray start --block`` takes its children down on SIGTERM (GCS, raylet, dashboard, workers,
Serve's actors and the HAProxy they started; measured with Ray 2.60: about 2 s, once Ray's
drain wait is 0, which joey sets unless the user's environment does). Ray workers
run in process groups of their own, so ``joey down`` signals the ``ray start`` process rather
than its process group, then kills whatever of its session is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from joey.config import Settings

RECORD = "ray-head.json"
LOG = "ray-head.log"
LOOPBACK = "127.0.0.1"
DEFAULT_DASHBOARD_PORT = 8265

# How long each stage may take on a busy 2-core machine.
_GCS_START_S = 90.0
_SERVE_START_S = 300.0
_STOP_S = 60.0
_KILL_S = 5.0
_POLL_S = 0.2

# The dashboard and every Ray process listen on loopback only (see joey.cluster.ray_connect).
_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# A single local node has nowhere to drain to: without this, SIGTERM waits 30 s (Ray's default)
# for replicas to move before it stops anything. Kept when the user's environment sets it.
_DRAIN_ENV = ("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")


class HeadError(click.ClickException):
    """The head could not be started, found or stopped (exit code 1)."""


@dataclass(frozen=True)
class Head:
    """What ``joey up`` started (``JOEY_HOME/ray-head.json``)."""

    pid: int
    """The ``ray start --head --block`` process; it leads a session of its own."""
    gcs_address: str
    dashboard_url: str
    http_host: str
    http_port: int
    log: str
    haproxy_dir: str
    auth_mode: str
    num_cpus: int | None
    started_at: str
    state: str = "starting"
    """``starting`` until Serve answers, then ``running``."""

    @property
    def serve_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "serve_url": self.serve_url}


# -- the record ----------------------------------------------------------------------------


def record_path(settings: Settings) -> Path:
    return settings.home / RECORD


def read_head(settings: Settings) -> Head | None:
    path = record_path(settings)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise HeadError(f"cannot read {path} ({exc}); remove it if no Ray head runs") from exc
    try:
        return Head(**{k: v for k, v in raw.items() if k != "serve_url"})
    except TypeError as exc:
        raise HeadError(f"{path} is not a record `joey up` wrote ({exc}); remove it if no Ray "
                        "head runs") from exc


def _write_head(settings: Settings, head: Head) -> None:
    path = record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(head.to_dict(), indent=2) + "\n")
    scratch.replace(path)


def _forget(settings: Settings, head: Head) -> None:
    record_path(settings).unlink(missing_ok=True)
    shutil.rmtree(head.haproxy_dir, ignore_errors=True)


# -- processes (Linux reads /proc; elsewhere the process group stands in for the session) --


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    if Path("/proc").is_dir():
        fields = _stat(pid)
        return fields is not None and fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def is_running(head: Head) -> bool:
    """The recorded process is alive and still ``ray start`` (not a reused pid)."""
    if not _alive(head.pid):
        return False
    if not Path("/proc").is_dir():
        return True
    command = _cmdline(head.pid)
    return "ray" in command and " start " in f"{command} " and "--block" in command


def _session(leader: int) -> list[int]:
    """Live processes of the session ``leader`` started (whatever their process group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            fields = _stat(int(entry.name))
            if fields is not None and fields[3] == str(leader) and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        left = [p for p in left if _alive(p)]
    return left


def _stop(head: Head, leader_is_ours: bool) -> int:
    """Stop the head and every process of its session; returns how many were left to kill."""
    if not Path("/proc").is_dir():  # no sessions to read: the process group stands in
        if not leader_is_ours:
            return 0  # the number may belong to a stranger's group by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(head.pid, signal.SIGTERM)
        _wait_gone([head.pid], _STOP_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(head.pid, signal.SIGKILL)
        return 0
    if leader_is_ours:
        # Ray's own shutdown: the SIGTERM handler of `ray start --block` stops what it started.
        _signal([head.pid], signal.SIGTERM)
        if _wait_gone([head.pid], _STOP_S):
            _signal([head.pid], signal.SIGKILL)
            _wait_gone([head.pid], _KILL_S)
        left = _session(head.pid)
    else:
        # The leader is gone (killed, or the machine's pid counter wrapped): only what is
        # plainly a leftover of that Ray, never a stranger that reuses the number.
        left = [p for p in _session(head.pid) if "ray" in _cmdline(p).lower()]
    if left:
        _signal(left, signal.SIGTERM)
        _signal(_wait_gone(left, _KILL_S), signal.SIGKILL)
        _wait_gone(left, _KILL_S)
    return len(left)


# -- joey up / joey down --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _ports(port: int | None, dashboard_port: int | None, http_host: str, http_port: int
           ) -> tuple[int, int]:
    if port is not None and not _port_free(LOOPBACK, port):
        raise HeadError(f"port {port} (--port, the GCS) is in use")
    if dashboard_port is not None and not _port_free(LOOPBACK, dashboard_port):
        raise HeadError(f"port {dashboard_port} (--dashboard-port) is in use")
    if not _port_free(http_host, http_port):
        raise HeadError(f"{http_host}:{http_port} (JOEY_HTTP_HOST/JOEY_HTTP_PORT, or --http-port) is "
                        "in use: Serve could not listen there")
    if dashboard_port is None:
        dashboard_port = (DEFAULT_DASHBOARD_PORT if _port_free(LOOPBACK, DEFAULT_DASHBOARD_PORT)
                          else _free_port())
    return port or _free_port(), dashboard_port


def _child_env() -> dict[str, str]:
    """This process's environment for a child, with Ray's token-auth mode set explicitly."""
    # Passed on to Ray's processes, not read as a joey setting.
    env = dict(os.environ)  # noqa: TID251
    env.pop("RAY_ADDRESS", None)  # what to join is said explicitly, never by this variable
    # With ~/.ray/auth_token on the machine and RAY_AUTH_MODE unset, `ray start --head` turns
    # token auth on by itself; joey's clients then could not join without the token.
    env.setdefault("RAY_AUTH_MODE", "disabled")
    return env


def _ray_env(settings: Settings, haproxy_dir: Path) -> dict[str, str]:
    """The head's environment: every Ray process inherits it."""
    from joey.cluster.serve_env import haproxy_env

    env = _child_env()
    env.setdefault(*_DRAIN_ENV)
    env.update(_LOOPBACK_ENV)
    env.update(haproxy_env(settings, haproxy_dir))
    return env


def _haproxy_dir() -> Path:
    """HAProxy's folder: short, because Serve puts its admin socket at
    ``{folder}/{56-character node id}/admin.sock`` and HAProxy takes at most 97 characters
    there (``~/.joey/...`` of most users would be too long). ``joey down`` removes it."""
    return Path(tempfile.mkdtemp(prefix="joey-haproxy-"))


def start_head(settings: Settings, num_cpus: int | None, port: int | None,
               dashboard_port: int | None) -> tuple[Head, bool]:
    """Start (or find) the head of ``settings.home``; returns it and whether it was started now."""
    existing = read_head(settings)
    if existing is not None:
        if is_running(existing):
            return existing, False
        _stop(existing, leader_is_ours=False)
        _forget(settings, existing)
    gcs_port, dashboard_port = _ports(port, dashboard_port, settings.http_host, settings.http_port)
    settings.home.mkdir(parents=True, exist_ok=True)
    haproxy_dir = _haproxy_dir()
    env = _ray_env(settings, haproxy_dir)
    num_cpus = num_cpus if num_cpus is not None else settings.ray_num_cpus
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
        "--node-ip-address", LOOPBACK, "--port", str(gcs_port),
        "--include-dashboard", "true", "--dashboard-host", LOOPBACK,
        "--dashboard-port", str(dashboard_port),
        # Ray's fixed defaults (10001, 52365) would clash with a second head on the machine.
        "--ray-client-server-port", str(_free_port()),
        "--dashboard-agent-listen-port", str(_free_port()),
    ]
    if num_cpus is not None:
        command += ["--num-cpus", str(num_cpus)]
    log = settings.home / LOG
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    except OSError:
        shutil.rmtree(haproxy_dir, ignore_errors=True)
        raise
    head = Head(pid=process.pid, gcs_address=f"{LOOPBACK}:{gcs_port}",
                dashboard_url=f"http://{LOOPBACK}:{dashboard_port}", http_host=settings.http_host,
                http_port=settings.http_port, log=str(log), haproxy_dir=str(haproxy_dir),
                auth_mode=env["RAY_AUTH_MODE"], num_cpus=num_cpus,
                started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    _write_head(settings, head)  # before anything can fail, so `joey down` finds it
    try:
        _wait_gcs(process, head, log)
        _start_serve(head)
    except BaseException:
        _stop(head, leader_is_ours=True)
        _forget(settings, head)
        raise
    head = Head(**{**asdict(head), "state": "running"})
    _write_head(settings, head)
    return head, True


def _wait_gcs(process: subprocess.Popen[bytes], head: Head, log: Path) -> None:
    host, _, port = head.gcs_address.rpartition(":")
    deadline = time.monotonic() + _GCS_START_S
    while not _answers(host, int(port)):
        if process.poll() is not None:
            raise HeadError(f"`ray start` exited with code {process.returncode}; the end of {log}:\n"
                            f"{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise HeadError(f"the Ray head did not answer at {head.gcs_address} within "
                            f"{_GCS_START_S:.0f}s; the end of {log}:\n{_log_tail(log)}")
        time.sleep(_POLL_S)


def _start_serve(head: Head) -> None:
    """Start Serve on the head from a child process: this one never becomes a Ray driver, so
    a failure can stop the head at once (a driver whose cluster dies waits a minute for it)."""
    env = _child_env()
    env.update({"JOEY_RAY_ADDRESS": head.gcs_address, "JOEY_HTTP_HOST": head.http_host,
                "JOEY_HTTP_PORT": str(head.http_port)})
    try:
        done = subprocess.run([sys.executable, "-c", "from joey.cli.head import serve_main; serve_main()"],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=_SERVE_START_S)
    except subprocess.TimeoutExpired as exc:
        raise HeadError(f"Serve did not start on the head within {_SERVE_START_S:.0f}s") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise HeadError("Serve did not start on the head:\n" + "\n".join(lines[-25:]))


def serve_main() -> None:
    """The child of :func:`_start_serve`: Serve on ``JOEY_HTTP_HOST:JOEY_HTTP_PORT`` of the
    cluster at ``JOEY_RAY_ADDRESS``."""
    import logging

    from joey.cluster import ensure_serve

    logging.basicConfig(level=logging.WARNING)
    ensure_serve(Settings())


def stop_head(settings: Settings) -> tuple[Head | None, bool, int]:
    """Stop the recorded head; returns it (None when there is no record), whether it ran, and
    how many of its processes outlived it and were killed."""
    head = read_head(settings)
    if head is None:
        return None, False, 0
    running = is_running(head)
    left = _stop(head, leader_is_ours=running)
    _forget(settings, head)
    return head, running, left


def joined(settings: Settings, head: Head) -> Settings:
    """``settings`` joining ``head``, with the HTTP address Serve listens on there."""
    return settings.model_copy(update={"ray_address": head.gcs_address,
                                       "http_host": head.http_host, "http_port": head.http_port})


def ray_settings(settings: Settings) -> Settings:
    """Settings that join a Ray: ``JOEY_RAY_ADDRESS``, else the head ``joey up`` recorded.

    Never an embedded Ray: it would die with the command.
    """
    if settings.ray_address not in (None, "", "local"):
        return settings
    head = read_head(settings)
    if head is None:
        raise HeadError("no Ray to deploy to: run `joey up` or set JOEY_RAY_ADDRESS")
    if not is_running(head):
        raise HeadError(f"the Ray head `joey up` started (pid {head.pid}, {head.gcs_address}) is "
                        "gone: run `joey down` to clear its record, then `joey up`")
    return joined(settings, head)


def available_ray(settings: Settings) -> Settings | None:
    """Like :func:`ray_settings`, or None when there is no Ray to join."""
    try:
        return ray_settings(settings)
    except HeadError:
        return None
