"""``DeploymentConfig``: frozen data; ``DeploymentConfigBuilder``: Wallaroo's methods, returning copies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SidekickConfig(BaseModel):
    """Resources of one containerized (``flight``/``mlflow``) model's step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: float | None = None
    gpus: float | None = None
    memory: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    arch: str | None = None
    accel: str | None = None


class DeploymentConfig(BaseModel):
    """How a pipeline's steps are replicated and placed. Built by ``DeploymentConfigBuilder``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replicas: int = 1
    autoscale_min: int | None = None
    autoscale_max: int | None = None
    autoscale_type: Literal["cpu", "queue"] = "cpu"
    cpu_utilization: float | None = None
    scale_up_queue_depth: int | None = None
    scale_down_queue_depth: int | None = None
    autoscaling_window_s: int | None = None
    upscale_delay_s: float | None = None
    """joey: how long load must stay above the target before a replica is added (Serve: 30 s)."""
    downscale_delay_s: float | None = None
    """joey: how long load must stay below the target before a replica is removed (Serve: 600 s;
    ``autoscaling_window`` sets it too)."""
    cpus: float | None = None
    gpus: float | None = None
    """GPUs per replica; a fraction shares one GPU between replicas (0.5: two per GPU)."""
    memory: str | None = None
    lb_cpus: float | None = None
    lb_memory: str | None = None
    deployment_label: str | None = None
    arch: str = "x86"
    accel: str = "none"
    sidekicks: dict[str, SidekickConfig] = Field(default_factory=dict)
    max_ongoing_requests: int | None = None
    """joey: requests one step replica works on at once."""
    max_queued_requests: int | None = None
    """joey: requests a step may queue before answering 503 (None: unbounded)."""
    fuse_steps: bool | None = None
    """joey: where models run (``joey.autoscaling.placement``): None, the default, puts the
    ingress in the first step's replicas and native models without settings of their own in
    there too; True runs every model in the ingress; False gives every model its own deployment."""


def _uid(model_version: Any) -> str:
    return str(model_version.uid()) if hasattr(model_version, "uid") else str(model_version)


class DeploymentConfigBuilder:
    """Wallaroo's ``DeploymentConfigBuilder``; each method returns a new builder."""

    def __init__(self, workspace_id: int | None = None, _config: DeploymentConfig | None = None) -> None:
        self._workspace_id = workspace_id
        self._config = _config or DeploymentConfig()

    def _with(self, **changes: Any) -> DeploymentConfigBuilder:
        return DeploymentConfigBuilder(self._workspace_id, self._config.model_copy(update=changes))

    def _sidekick(self, model_version: Any, **changes: Any) -> DeploymentConfigBuilder:
        uid = _uid(model_version)
        current = self._config.sidekicks.get(uid, SidekickConfig())
        sidekicks = {**self._config.sidekicks, uid: current.model_copy(update=changes)}
        return self._with(sidekicks=sidekicks)

    def replica_count(self, count: int) -> DeploymentConfigBuilder:
        if count < 0:
            raise ValueError("replica_count must be at least 0")
        if self._config.autoscale_max is not None and count > self._config.autoscale_max:
            raise ValueError("replica_count must not exceed the autoscale maximum")
        return self._with(replicas=count)

    def replica_autoscale_min_max(self, maximum: int, minimum: int = 0) -> DeploymentConfigBuilder:
        """Maximum first, as Wallaroo's."""
        if minimum < 0 or minimum > maximum:
            raise ValueError(f"need 0 <= minimum <= maximum, got minimum={minimum} maximum={maximum}")
        if self._config.replicas > maximum:
            raise ValueError("replica_count must not exceed the autoscale maximum")
        return self._with(autoscale_min=minimum, autoscale_max=maximum)

    def autoscale_cpu_utilization(self, cpu_utilization_percentage: float) -> DeploymentConfigBuilder:
        return self._with(cpu_utilization=cpu_utilization_percentage)

    def disable_autoscale(self) -> DeploymentConfigBuilder:
        return self._with(autoscale_min=None, autoscale_max=None, autoscale_type="cpu")

    def scale_up_queue_depth(self, queue_depth: int) -> DeploymentConfigBuilder:
        down = self._config.scale_down_queue_depth or 1
        return self._with(autoscale_type="queue", scale_up_queue_depth=queue_depth, scale_down_queue_depth=down)

    def scale_down_queue_depth(self, queue_depth: int | None = None) -> DeploymentConfigBuilder:
        if self._config.autoscale_type != "queue":
            raise ValueError("scale_down_queue_depth needs scale_up_queue_depth first")
        return self._with(scale_down_queue_depth=queue_depth or 1)

    def autoscaling_window(self, window_seconds: int | None = None) -> DeploymentConfigBuilder:
        if self._config.autoscale_type != "queue":
            raise ValueError("autoscaling_window needs scale_up_queue_depth first")
        window = 300 if window_seconds is None else window_seconds
        if window < 60:
            raise ValueError("autoscaling_window is at least 60 seconds")
        return self._with(autoscaling_window_s=window)

    def autoscale_delays(self, upscale_s: float | None = None,
                         downscale_s: float | None = None) -> DeploymentConfigBuilder:
        """joey: how long load must stay above (below) the target before a replica is added
        (removed); None keeps Serve's default (30 s up, 600 s down)."""
        for name, value in (("upscale_s", upscale_s), ("downscale_s", downscale_s)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be at least 0, got {value}")
        return self._with(upscale_delay_s=upscale_s, downscale_delay_s=downscale_s)

    def cpus(self, core_count: float) -> DeploymentConfigBuilder:
        return self._with(cpus=core_count)

    def gpus(self, gpu_count: float) -> DeploymentConfigBuilder:
        """GPUs per replica; fractions share a GPU (``gpus(0.5)``: two replicas per GPU)."""
        if gpu_count < 0:
            raise ValueError(f"gpus must be at least 0, got {gpu_count}")
        return self._with(gpus=gpu_count)

    def memory(self, memory_spec: str) -> DeploymentConfigBuilder:
        return self._with(memory=memory_spec)

    def lb_cpus(self, core_count: float) -> DeploymentConfigBuilder:
        return self._with(lb_cpus=core_count)

    def lb_memory(self, memory_spec: str) -> DeploymentConfigBuilder:
        return self._with(lb_memory=memory_spec)

    def deployment_label(self, label: str) -> DeploymentConfigBuilder:
        if ":" not in label:
            raise ValueError(f"deployment_label takes 'key:value', got {label!r}")
        return self._with(deployment_label=label)

    def arch(self, arch: Any = None) -> DeploymentConfigBuilder:
        return self._with(arch=str(getattr(arch, "value", arch) or "x86"))

    def accel(self, accel: Any = None) -> DeploymentConfigBuilder:
        return self._with(accel=str(getattr(accel, "value", accel) or "none"))

    def sidekick_cpus(self, model_version: Any, core_count: float) -> DeploymentConfigBuilder:
        return self._sidekick(model_version, cpus=core_count)

    def sidekick_gpus(self, model_version: Any, gpu_count: float) -> DeploymentConfigBuilder:
        return self._sidekick(model_version, gpus=gpu_count)

    def sidekick_memory(self, model_version: Any, memory_spec: str) -> DeploymentConfigBuilder:
        return self._sidekick(model_version, memory=memory_spec)

    def sidekick_env(self, model_version: Any, environment: dict[str, str]) -> DeploymentConfigBuilder:
        return self._sidekick(model_version, env=dict(environment))

    def sidekick_arch(self, model_version: Any, arch: Any = None) -> DeploymentConfigBuilder:
        return self._sidekick(model_version, arch=str(getattr(arch, "value", arch) or "x86"))

    def sidekick_accel(self, model_version: Any, accel: Any = None) -> DeploymentConfigBuilder:
        return self._sidekick(model_version, accel=str(getattr(accel, "value", accel) or "none"))

    def max_queued_requests(self, count: int) -> DeploymentConfigBuilder:
        """joey: bound each step's queue; past it requests answer 503 with Retry-After."""
        return self._with(max_queued_requests=count)

    def max_ongoing_requests(self, count: int) -> DeploymentConfigBuilder:
        """joey: requests one step replica works on at once."""
        return self._with(max_ongoing_requests=count)

    def fuse_steps(self, enabled: bool | None = True) -> DeploymentConfigBuilder:
        """joey: True runs every (native) step inside the ingress replicas with the engine's
        resources; False gives every step a deployment of its own behind a separate ingress;
        None (the default) decides per step (``joey.autoscaling.placement``)."""
        return self._with(fuse_steps=enabled)

    def build(self) -> DeploymentConfig:
        return self._config
