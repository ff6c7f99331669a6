"""The environment a Ray joey starts gets for HAProxy: its own files and ports, loopback binds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from joey.cluster import serve_env
from joey.config import Settings


@pytest.fixture(autouse=True)
def fake_haproxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wrapper runs ``true`` instead of HAProxy: only its rewrite of the config is tested."""
    monkeypatch.setattr(serve_env, "_haproxy_binary", lambda: "/bin/true")


def test_each_ray_gets_its_own_haproxy_files_and_ports() -> None:
    first, second = serve_env.haproxy_env(Settings()), serve_env.haproxy_env(Settings())
    assert first["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert first["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"] != second["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"]
    ports = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT",
             "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT", "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT")
    # Serve's defaults (8404, 9101, 8500, 9500) are fixed per machine; the fallback proxy's are
    # bound with SO_REUSEPORT, so two Rays sharing them split each other's traffic
    assert not {first[p] for p in ports} & {"8404", "9101", "8500", "9500"}
    assert len({first[p] for p in ports} | {second[p] for p in ports}) == 2 * len(ports)


def test_the_wrapper_keeps_haproxy_s_own_listeners_on_the_http_host(tmp_path: Path) -> None:
    env = serve_env.haproxy_env(Settings())
    config = tmp_path / "haproxy.cfg"
    config.write_text("frontend prometheus\n    bind :9101\nlisten stats\n  bind *:8404\n"
                      "frontend http_frontend\n    bind 127.0.0.1:8000\n    bind unix@/tmp/x.sock\n")
    done = subprocess.run([env["RAY_SERVE_HAPROXY_BINARY_PATH"], "-db", "-f", str(config)], timeout=30)
    assert done.returncode == 0
    binds = [line.strip() for line in config.read_text().splitlines() if line.strip().startswith("bind")]
    assert binds == ["bind 127.0.0.1:9101", "bind 127.0.0.1:8404", "bind 127.0.0.1:8000", "bind unix@/tmp/x.sock"]


def test_haproxy_can_be_switched_off() -> None:
    assert serve_env.haproxy_env(Settings(serve_haproxy=False)) == {}


def test_haproxy_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A Serve proxy killed hard (a notebook kernel killed on restart) left its HAProxy holding
    the HTTP port; the wrapper makes the kernel kill HAProxy with its parent."""
    import os
    import signal
    import sys
    import time

    wrapper = serve_env.write_wrapper(tmp_path, "127.0.0.1", "/bin/sleep")
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, time; child = subprocess.Popen([{str(wrapper)!r}, '300']); "
                               "print(child.pid, flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.02)  # the wrapper has exec'd into "HAProxy"
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(child):
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("HAProxy outlived the process that started it")


def _alive(pid: int) -> bool:
    """Running (a killed process nobody reaped yet is a zombie: dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_long_temp_dir_still_leaves_room_for_haproxy_s_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """HAProxy refuses an admin socket path over 97 characters, and Serve then fails to start:
    with TMPDIR=/var/tmp (or a test's deep temp dir) joey's HAProxy files go to /tmp."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", "/var/tmp/a-rather-long-temporary-directory")
    env = serve_env.haproxy_env(Settings())
    socket = Path(env["RAY_SERVE_HAPROXY_SOCKET_PATH"]).parent / ("x" * 56) / "admin.sock"
    assert len(str(socket)) <= 97, socket
    monkeypatch.setattr(tempfile, "tempdir", "/tmp")
    assert serve_env.haproxy_env(Settings())["RAY_SERVE_HAPROXY_SOCKET_PATH"].startswith("/tmp/joey-haproxy-")
