"""Start or join Ray, and start Serve's HTTP proxy on the configured loopback address."""

from __future__ import annotations

import logging
import os

from joey.config import Settings

logger = logging.getLogger(__name__)

# Ray sessions this process has already started (or joined) Serve in.
_SERVE_STARTED: set[str] = set()


def ensure_ray(settings: Settings) -> None:
    """Join ``settings.ray_address`` or start a local Ray whose node address is loopback."""
    # Ray reads this when it is imported: with it off, a local Ray uses 127.0.0.1 as its
    # node address, so nothing it starts is reached through another interface.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return
    if settings.ray_address:
        ray.init(address=settings.ray_address, namespace="joey", log_to_driver=False)
        return
    ray.init(
        num_cpus=settings.ray_num_cpus,
        include_dashboard=False,
        namespace="joey",
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    logger.info("started a local Ray")


def ensure_serve(settings: Settings) -> None:
    """Ray, then Serve with its HTTP proxy on ``http_host:http_port`` (a no-op when running)."""
    ensure_ray(settings)
    import ray
    from ray import serve

    session = ray.get_runtime_context().get_node_id() + ray.get_runtime_context().gcs_address
    if session in _SERVE_STARTED:
        return
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
    _SERVE_STARTED.add(session)
