"""Pure mapping of a ``DeploymentConfig`` onto each deployment's Serve options."""

from __future__ import annotations

import re
from typing import Any

from joey.autoscaling.config import DeploymentConfig
from joey.spec import ServeOptions

DEFAULT_STEP_CPUS = 0.1
"""A step without ``cpus()`` reserves a tenth of a CPU, so small machines fit several."""

_UNITS = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}


def memory_bytes(spec: str) -> int:
    """A Kubernetes quantity (``512Mi``, ``1Gi``, ``1.5G``) in bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(k|[KMGT]i|[MGT])?\s*", spec)
    if not match:
        raise ValueError(f"memory takes a quantity like '512Mi' or '1Gi', got {spec!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def _actor_options(cpus: float | None, gpus: float | None, memory: str | None, label: str | None,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"num_cpus": DEFAULT_STEP_CPUS if cpus is None else cpus}
    if gpus:
        options["num_gpus"] = gpus
    if memory:
        options["memory"] = memory_bytes(memory)
    if label:
        key, _, value = label.partition(":")
        options["label_selector"] = {key: value}
    if env:
        options["runtime_env"] = {"env_vars": dict(env)}
    return options


def _autoscaling(config: DeploymentConfig) -> dict[str, Any] | None:
    if config.autoscale_max is None:
        return None
    autoscaling: dict[str, Any] = {
        "min_replicas": config.autoscale_min or 0,
        "max_replicas": config.autoscale_max,
        "initial_replicas": max(config.autoscale_min or 0, min(config.replicas, config.autoscale_max)),
        "target_ongoing_requests": config.scale_up_queue_depth or 2,
    }
    if config.autoscaling_window_s is not None:
        autoscaling["look_back_period_s"] = config.autoscaling_window_s
        autoscaling["downscale_delay_s"] = config.autoscaling_window_s
    if config.upscale_delay_s is not None:
        autoscaling["upscale_delay_s"] = config.upscale_delay_s
    if config.downscale_delay_s is not None:
        autoscaling["downscale_delay_s"] = config.downscale_delay_s
    return autoscaling


def _batching(dynamic_batching: dict[str, Any] | None) -> tuple[int | None, float]:
    """Wallaroo's DynamicBatchingConfig -> (Serve max_batch_size, batch_wait_timeout_s)."""
    if not dynamic_batching:
        return None, 0.0
    size = dynamic_batching.get("batch_size_target") or dynamic_batching.get("batch_size_limit") or 1
    delay_ms = dynamic_batching.get("max_batch_delay_ms") or 0
    return int(size), float(delay_ms) / 1000.0


def step_options(config: DeploymentConfig, model_uid: str, native: bool,
                 dynamic_batching: dict[str, Any] | None = None) -> ServeOptions:
    """Options of one model step: engine resources for native runtimes, sidekick ones otherwise.

    With dynamic batching, a replica accepts enough concurrent requests to fill a batch.
    """
    sidekick = config.sidekicks.get(model_uid)
    if native or sidekick is None:
        actor = _actor_options(config.cpus, config.gpus, config.memory, config.deployment_label)
    else:
        actor = _actor_options(sidekick.cpus, sidekick.gpus, sidekick.memory, config.deployment_label, sidekick.env)
    max_batch_size, wait_s = _batching(dynamic_batching)
    ongoing = config.max_ongoing_requests or 16
    if max_batch_size is not None and config.max_ongoing_requests is None:
        ongoing = max(ongoing, 2 * max_batch_size)
    return ServeOptions(
        num_replicas=config.replicas,
        autoscaling_config=_autoscaling(config),
        ray_actor_options=actor,
        max_ongoing_requests=ongoing,
        max_queued_requests=-1 if config.max_queued_requests is None else config.max_queued_requests,
        max_batch_size=max_batch_size,
        batch_wait_timeout_s=wait_s,
    )


def engine_options(config: DeploymentConfig) -> ServeOptions:
    """What a native model without settings of its own runs with: the engine's resources."""
    return step_options(config, "", native=True)


def ingress_options(config: DeploymentConfig) -> ServeOptions:
    """An ingress that runs no model composes and answers; it reserves only what ``lb_*`` asks
    for (one that runs models takes theirs: ``joey.autoscaling.placement``)."""
    actor: dict[str, Any] = {"num_cpus": config.lb_cpus or 0}
    if config.lb_memory:
        actor["memory"] = memory_bytes(config.lb_memory)
    return ServeOptions(
        num_replicas=1,
        ray_actor_options=actor,
        max_ongoing_requests=256,
        max_queued_requests=-1,
    )
