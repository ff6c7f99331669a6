"""Run, inspect and delete one Serve application per deployed pipeline."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import serve
from ray.exceptions import GetTimeoutError
from ray.serve.handle import DeploymentHandle

from joey.deployments.app import build_app, retired_steps
from joey.deployments.failures import as_joey_error
from joey.errors import DeploymentError, InferenceTimeoutError
from joey.spec import DeploymentSpec

logger = logging.getLogger(__name__)

# Serve's application states -> the status strings of the contract
_STATUS = {
    "RUNNING": "Running",
    "DEPLOYING": "Starting",
    "NOT_STARTED": "Starting",
    "DEPLOY_FAILED": "Error",
    "UNHEALTHY": "Error",
    "DELETING": "Unavailable",
}


@dataclass(frozen=True)
class AppState:
    """A Serve application's state in the contract's words."""

    status: str
    message: str = ""
    deployments: list[dict[str, Any]] = field(default_factory=list)


def app_state(name: str) -> AppState:
    """``Unavailable`` when no such application runs."""
    overview = serve.status().applications.get(name)
    if overview is None:
        return AppState("Unavailable")
    deployments = [
        {
            "name": deployment_name,
            "status": str(getattr(d.status, "value", d.status)),
            "replicas": {str(k): int(v) for k, v in d.replica_states.items()},
            "message": d.message,
        }
        for deployment_name, d in overview.deployments.items()
    ]
    status = _STATUS.get(str(getattr(overview.status, "value", overview.status)), "Error")
    return AppState(status, overview.message, deployments)


def run_app(spec: DeploymentSpec, wait: bool, timeout_s: float,
            tick: Callable[[], None] = lambda: None, previous: DeploymentSpec | None = None,
            http_base: str | None = None, envs_dir: Path | None = None) -> AppState:
    """Deploy (or update in place) the pipeline's application; optionally wait until it serves.

    Replacing a running ``previous`` version is a hot swap that fails no request: first the
    new version with the old step deployments still in it (old ingress replicas keep
    calling them while Serve rolls the ingress over), then, once it runs, without them.
    ``tick`` is called about once a second while waiting (the SDK prints a dot). With
    ``http_base`` (Serve's HTTP entry), waiting also covers the route: Serve reports an
    application running before HAProxy has reloaded with its route, and a request sent in
    between is answered 404. ``envs_dir``: where isolated environments are built and kept.
    """
    retired = retired_steps(previous, spec) if previous is not None else ()
    if retired and app_state(spec.app_name).status == "Running":
        _deploy(spec, retired, envs_dir)
        _wait_running(spec, timeout_s, tick)
    _deploy(spec, (), envs_dir)
    if not wait:
        return app_state(spec.app_name)
    started = time.monotonic()
    state = _wait_running(spec, timeout_s, tick)
    if http_base is not None:
        _wait_routed(spec, http_base, max(timeout_s - (time.monotonic() - started), ROUTE_WAIT_MIN_S), tick)
    return state


ROUTE_WAIT_MIN_S = 10.0


def _wait_routed(spec: DeploymentSpec, http_base: str, timeout_s: float, tick: Callable[[], None]) -> None:
    """Until Serve's HTTP entry lists the pipeline's route (``GET /-/routes``, answered by
    HAProxy and by Serve's proxy alike). A route that does not show up in time is logged, not
    raised: the application runs, and the entry may be elsewhere than ``http_base`` (on a
    joined cluster): when nothing answers there at all, the wait is short."""
    started = time.monotonic()
    answered = False
    ticker = _Ticker(tick)
    url = f"{http_base.rstrip('/')}/-/routes"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                answered = True
                if spec.route_prefix in json.loads(answer.read() or b"{}"):
                    return
        except (OSError, ValueError):
            pass
        waited = time.monotonic() - started
        if waited > (timeout_s if answered else min(timeout_s, ROUTE_WAIT_MIN_S)):
            logger.warning("%s runs but %s does not list %s after %.0fs", spec.app_name, url,
                           spec.route_prefix, waited)
            return
        ticker()
        time.sleep(0.05)


def _deploy(spec: DeploymentSpec, retired: tuple[Any, ...], envs_dir: Path | None) -> None:
    # No per-request access log: it costs every request a log record in every replica
    # (about 4% of a step replica's CPU in the profile); failures are still logged.
    serve._run(build_app(spec, retired, envs_dir), _blocking=False, name=spec.app_name, route_prefix=spec.route_prefix,
               logging_config={"enable_access_log": False})


class _Ticker:
    """Calls ``tick`` about once a second from a polling loop (the SDK prints a dot)."""

    def __init__(self, tick: Callable[[], None]) -> None:
        self._tick = tick
        self._next = time.monotonic() + 1.0

    def __call__(self) -> None:
        if time.monotonic() >= self._next:
            self._tick()
            self._next += 1.0


def _wait_running(spec: DeploymentSpec, timeout_s: float, tick: Callable[[], None]) -> AppState:
    deadline = time.monotonic() + timeout_s
    ticker = _Ticker(tick)
    while True:
        state = app_state(spec.app_name)
        if state.status == "Running":
            return state
        if state.status == "Error":
            details = "; ".join(d["message"] for d in state.deployments if d["message"])
            raise DeploymentError(spec.pipeline, details or state.message)
        if time.monotonic() > deadline:
            raise DeploymentError(spec.pipeline, f"not running after {timeout_s:.0f}s: {state.message}")
        ticker()
        time.sleep(0.1)


def delete_app(name: str, tick: Callable[[], None] = lambda: None) -> None:
    """Delete the application and wait until its replicas are gone (``tick`` about once a second)."""
    if name not in serve.status().applications:
        return
    serve.delete(name, _blocking=False)
    ticker = _Ticker(tick)
    while name in serve.status().applications:
        ticker()
        time.sleep(0.05)


def app_handle(name: str) -> DeploymentHandle:
    return serve.get_app_handle(name)


def call_app(name: str, timeout_s: float, *args: Any) -> Any:
    """``infer`` on the application's ingress; failures come back as joey errors."""
    return call_handle(app_handle(name), timeout_s, *args)


def call_handle(handle: DeploymentHandle, timeout_s: float, *args: Any) -> Any:
    """``infer`` through an ingress handle; failures come back as joey errors."""
    response = handle.infer.remote(*args)
    try:
        # A caller with a running event loop (a Jupyter kernel always has one) may block on
        # the answer: the handle's router runs on a loop of its own in the SDK's process.
        return response.result(timeout_s=timeout_s, _skip_asyncio_check=True)
    except (TimeoutError, GetTimeoutError):
        response.cancel()
        raise InferenceTimeoutError(timeout_s) from None
    except Exception as exc:
        raise as_joey_error(exc) from None
