"""Start or join Ray, and start Serve's HTTP proxy on the configured loopback address.

Embedded mode (no ``Settings.ray_address``) always starts a new Ray of its own
(``ray.init(address="local")``), never one that ``RAY_ADDRESS`` or Ray's
``ray_current_cluster`` file names, and every process of that Ray listens on 127.0.0.1
only. Joining a cluster happens only through ``Settings.ray_address``, and only after
its address answered within ``Settings.ray_connect_timeout_s``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from joey.config import Settings
from joey.errors import RayConnectionError

logger = logging.getLogger(__name__)

# Ray sessions this process has already started (or joined) Serve in.
_SERVE_STARTED: set[str] = set()

# One start or join at a time: two threads must not both call ray.init.
_LOCK = threading.Lock()

# Off: a Ray process uses 127.0.0.1 as its node address, and from the node address each
# one decides where it listens (GCS, raylet, workers, dashboard agent: loopback only).
# Every Ray process reads it once, when it imports ray.
_LOOPBACK_ENV_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

# What ``ray.init(address=...)`` and Ray's ``RAY_ADDRESS`` variable accept for "start one".
_LOCAL = "local"
_AUTO = "auto"
_PROBE_INTERVAL_S = 0.25


def ensure_ray(settings: Settings) -> None:
    """Join ``settings.ray_address``, or start joey's own local Ray on loopback.

    A no-op when this process is already connected to a Ray.
    """
    with _LOCK:
        if settings.ray_address in (None, "", _LOCAL):
            _start_local(settings)
        else:
            _join(str(settings.ray_address), settings.ray_connect_timeout_s)


def ensure_serve(settings: Settings) -> None:
    """Ray, then Serve with its HTTP proxy on ``http_host:http_port`` (a no-op when running)."""
    ensure_ray(settings)
    import ray
    from ray import serve

    session = ray.get_runtime_context().get_node_id() + ray.get_runtime_context().gcs_address
    if session in _SERVE_STARTED:
        return
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port},
                proxy_location=settings.http_proxy_location)
    _SERVE_STARTED.add(session)


# -- embedded: a Ray of joey's own ---------------------------------------------------------


def _start_local(settings: Settings) -> None:
    """Start a new single-node Ray whose every process listens on 127.0.0.1 only.

    ``address="local"`` makes Ray start a new instance even when ``RAY_ADDRESS`` is set
    or a ``ray_current_cluster`` file (live or stale) names another one; without it,
    ``ray.init()`` joins whatever those name.
    """
    from joey.cluster.serve_env import haproxy_env

    with _loopback_node():
        import ray

        if ray.is_initialized():
            return
        # No _node_ip_address="127.0.0.1": ray.init maps a loopback address back to the
        # machine's external address unless the switch _loopback_node sets is off. Every
        # process this starts inherits the environment as it is now.
        with _environment(haproxy_env(settings)):
            ray.init(
                address=_LOCAL,
                num_cpus=settings.ray_num_cpus,
                include_dashboard=False,
                namespace="joey",
                log_to_driver=False,
            )
    logger.info("started a local Ray on 127.0.0.1")


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in this process's environment while the block runs (Ray processes started in
    it inherit it); then restore what was, so the SDK's own process never runs with it."""
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _loopback_node() -> Iterator[None]:
    """While ``ray.init`` runs: this node's address is 127.0.0.1; then restore what was.

    Ray decides the node address in the process that calls ``ray.init`` and passes it
    to every process it starts; each of those decides from it where it listens. With
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` unset on Linux the address is the machine's
    external one and the GCS, raylet, workers and dashboard agent listen on every
    interface. (Serve replicas' own gRPC server listens on every interface either way.)
    """
    previous_env = os.environ.get(_LOOPBACK_ENV_VAR)
    # Read when ray is imported: by this process when it imports ray just below, and by
    # every Ray process ray.init starts (they inherit this environment).
    os.environ[_LOOPBACK_ENV_VAR] = "0"
    # The one private name joey touches, and why: when ray was imported before joey
    # (by the user, or by anything that imported ray.serve), this process read the
    # variable already, and Ray offers no public parameter that keeps the node address
    # on loopback (ray.init's _node_ip_address="127.0.0.1" is mapped back to the
    # external address by services.resolve_ip_for_localhost). services.get_node_ip_address
    # reads this module attribute on every call, so setting it while ray.init runs is
    # the variable's effect, applied late.
    from ray._private import ray_constants

    previous_flag = ray_constants.ENABLE_RAY_CLUSTER
    if previous_flag:
        logger.debug("ray was imported before %s=0 was set; keeping the node on loopback "
                     "through ray_constants.ENABLE_RAY_CLUSTER", _LOOPBACK_ENV_VAR)
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous_flag
        if previous_env is None:
            os.environ.pop(_LOOPBACK_ENV_VAR, None)
        else:
            os.environ[_LOOPBACK_ENV_VAR] = previous_env


# -- joining a cluster ---------------------------------------------------------------------


def _join(address: str, timeout_s: float) -> None:
    """Connect to the cluster at ``address`` once it answered; fail fast when it does not."""
    import ray

    if ray.is_initialized():
        return
    target, source = _resolve(address)
    named = f" (named by {source})" if source else ""
    host, port = _host_port(address, target, named)
    _probe(address, f"{host}:{port}{named}", host, port, timeout_s)
    # A cluster reached through loopback may listen on loopback only (one that joey or
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 started): without the switch, Ray would
    # rewrite 127.0.0.1 to this machine's external address and never reach it. Any
    # other address keeps Ray's defaults, so the driver is reachable from other nodes.
    with _loopback_node() if _is_loopback(host) else nullcontext():
        # "auto" goes to Ray as "auto": Ray then also picks up the token of a local
        # cluster with token auth, which it does not for an explicit address.
        try:
            ray.init(address=address, namespace="joey", log_to_driver=False)
        except ConnectionError as exc:
            raise RayConnectionError(address, str(exc)) from exc
    logger.info("joined the Ray cluster at %s", target)


def _resolve(address: str) -> tuple[str, str]:
    """What ``address`` points at, and where that came from (for messages).

    ``auto`` means what Ray resolves it to: ``RAY_ADDRESS``, else the address the last
    ``ray start`` on this machine wrote to ``ray_current_cluster`` in Ray's temp dir.
    (Ray's last resort, any GCS process found in ``ps``, is left out: with none of the
    two there is no single cluster that ``auto`` names.)
    """
    if address != _AUTO:
        return address, ""
    from_env = os.environ.get("RAY_ADDRESS", "").strip()
    if from_env:
        return from_env, "RAY_ADDRESS"
    address_file = _ray_address_file()
    try:
        written = address_file.read_text().strip()
    except OSError:
        written = ""
    if not written:
        raise RayConnectionError(address, f"RAY_ADDRESS is not set and no Ray started with "
                                          f"`ray start` wrote {address_file}")
    return written, str(address_file)


def _ray_address_file() -> Path:
    """Ray's ``ray_current_cluster`` file: ``{RAY_TMPDIR or TMPDIR or /tmp}/ray/...``."""
    from ray._common.utils import get_ray_address_file  # Ray's own rule for the path

    return Path(get_ray_address_file(None))


def _host_port(address: str, target: str, named: str) -> tuple[str, int]:
    """Host and port of ``host:port``, ``[v6]:port`` or ``scheme://host:port``."""
    rest = target.split("://", 1)[-1].split("/", 1)[0]
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise RayConnectionError(address, f"{target!r}{named} is not host:port or "
                                          "ray://host:port")
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _probe(address: str, where: str, host: str, port: int, timeout_s: float) -> None:
    """Wait until ``host:port`` accepts a TCP connection, at most ``timeout_s`` seconds.

    ``ray.init`` itself retries an address that does not answer for minutes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(remaining, 0.05)):
                return
        except OSError as exc:
            if time.monotonic() + _PROBE_INTERVAL_S >= deadline:
                raise RayConnectionError(
                    address, f"nothing answered at {where} within {timeout_s:g}s ({exc})"
                ) from None
        time.sleep(_PROBE_INTERVAL_S)
