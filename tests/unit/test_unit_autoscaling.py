"""joey.autoscaling: Wallaroo's builder and its pure mapping onto Ray Serve options."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from joey.autoscaling import (
    DeploymentConfig,
    DeploymentConfigBuilder,
    ingress_options,
    memory_bytes,
    step_options,
)
from joey.autoscaling.serve_options import DEFAULT_STEP_CPUS


class FakeModelVersion:
    """What the builder needs of a model version: ``uid()``."""

    def __init__(self, uid: str) -> None:
        self._uid = uid

    def uid(self) -> str:
        return self._uid


# --------------------------------------------------------------------------- builder


@pytest.mark.parametrize(
    "method,args,field,value",
    [
        ("replica_count", (3,), "replicas", 3),
        ("cpus", (1.5,), "cpus", 1.5),
        ("gpus", (1,), "gpus", 1),
        ("memory", ("1Gi",), "memory", "1Gi"),
        ("lb_cpus", (0.5,), "lb_cpus", 0.5),
        ("lb_memory", ("256Mi",), "lb_memory", "256Mi"),
        ("autoscale_cpu_utilization", (75,), "cpu_utilization", 75),
        ("max_queued_requests", (10,), "max_queued_requests", 10),
        ("max_ongoing_requests", (4,), "max_ongoing_requests", 4),
        ("scale_up_queue_depth", (5,), "scale_up_queue_depth", 5),
        ("deployment_label", ("pool:gpu",), "deployment_label", "pool:gpu"),
    ],
)
def test_each_method_returns_a_new_builder(method: str, args: tuple[Any, ...], field: str,
                                           value: Any) -> None:
    original = DeploymentConfigBuilder()
    before = original.build()
    changed = getattr(original, method)(*args)
    assert isinstance(changed, DeploymentConfigBuilder)
    assert changed is not original
    assert getattr(changed.build(), field) == value
    assert original.build() == before == DeploymentConfig()


def test_methods_chain() -> None:
    config = DeploymentConfigBuilder().replica_count(2).cpus(1).memory("512Mi").gpus(0).build()
    assert (config.replicas, config.cpus, config.memory, config.gpus) == (2, 1, "512Mi", 0)


def test_config_is_frozen() -> None:
    config = DeploymentConfigBuilder().build()
    with pytest.raises(ValidationError):
        config.replicas = 5  # type: ignore[misc]


def test_replica_autoscale_min_max_takes_maximum_first() -> None:
    config = DeploymentConfigBuilder().replica_autoscale_min_max(5, 2).build()
    assert (config.autoscale_min, config.autoscale_max) == (2, 5)
    config = DeploymentConfigBuilder().replica_autoscale_min_max(maximum=4).build()
    assert (config.autoscale_min, config.autoscale_max) == (0, 4)


@pytest.mark.parametrize(
    "build",
    [
        lambda b: b.replica_autoscale_min_max(2, 3),  # minimum > maximum
        lambda b: b.replica_autoscale_min_max(3, -1),  # negative minimum
        lambda b: b.replica_autoscale_min_max(-1),  # negative maximum
        lambda b: b.replica_count(5).replica_autoscale_min_max(3),  # replicas > maximum
        lambda b: b.replica_autoscale_min_max(3).replica_count(5),  # replicas > maximum, other order
        lambda b: b.replica_count(-1),
        lambda b: b.scale_down_queue_depth(1),  # needs scale_up_queue_depth first
        lambda b: b.autoscaling_window(300),  # needs scale_up_queue_depth first
        lambda b: b.scale_up_queue_depth(5).autoscaling_window(59),  # window minimum is 60
        lambda b: b.deployment_label("no-colon"),
    ],
    ids=["min>max", "negative-min", "negative-max", "replicas>max", "max<replicas",
         "negative-replicas", "scale-down-first", "window-first", "window<60", "label"],
)
def test_builder_validation_errors(build: Any) -> None:
    original = DeploymentConfigBuilder()
    with pytest.raises(ValueError):
        build(original)
    assert original.build() == DeploymentConfig()


def test_queue_autoscaling_settings() -> None:
    builder = DeploymentConfigBuilder().replica_autoscale_min_max(4, 1).scale_up_queue_depth(5)
    config = builder.build()
    assert config.autoscale_type == "queue"
    assert config.scale_up_queue_depth == 5
    assert config.scale_down_queue_depth == 1
    assert builder.scale_down_queue_depth(3).build().scale_down_queue_depth == 3
    assert builder.autoscaling_window(60).build().autoscaling_window_s == 60
    assert builder.autoscaling_window().build().autoscaling_window_s == 300


def test_disable_autoscale() -> None:
    config = DeploymentConfigBuilder().replica_autoscale_min_max(4, 1).disable_autoscale().build()
    assert config.autoscale_max is None
    assert config.autoscale_min is None


def test_sidekicks_are_keyed_by_model_uid() -> None:
    version = FakeModelVersion("ccfraud-3")
    config = (DeploymentConfigBuilder()
              .sidekick_cpus(version, 2)
              .sidekick_memory(version, "1Gi")
              .sidekick_env("other-uid", {"A": "1"})
              .build())
    assert set(config.sidekicks) == {"ccfraud-3", "other-uid"}
    assert config.sidekicks["ccfraud-3"].cpus == 2
    assert config.sidekicks["ccfraud-3"].memory == "1Gi"
    assert config.sidekicks["other-uid"].env == {"A": "1"}


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("1.5G", 1_500_000_000),
        ("100", 100),
        ("2k", 2000),
        ("3Mi", 3 * 2**20),
        (" 1Ti ", 2**40),
    ],
)
def test_memory_bytes(spec: str, expected: int) -> None:
    assert memory_bytes(spec) == expected


@pytest.mark.parametrize("spec", ["lots", "", "1GB", "-1Gi", "1 gigabyte", "Gi"])
def test_memory_bytes_rejects_bad_quantities(spec: str) -> None:
    with pytest.raises(ValueError):
        memory_bytes(spec)


def test_memory_bytes_accepts_kibibytes() -> None:
    assert memory_bytes("4Ki") == 4096


def test_memory_bytes_rejects_lowercase_ki_with_value_error() -> None:
    with pytest.raises(ValueError):
        memory_bytes("4ki")


# --------------------------------------------------------------------------- step options


def test_step_defaults() -> None:
    options = step_options(DeploymentConfig(), "m-1", native=True)
    assert options.ray_actor_options == {"num_cpus": DEFAULT_STEP_CPUS}
    assert options.num_replicas == 1
    assert options.autoscaling_config is None
    assert options.max_queued_requests == -1
    kwargs = options.deployment_kwargs()
    assert kwargs["num_replicas"] == 1
    assert "autoscaling_config" not in kwargs


def test_step_resources_map_into_ray_actor_options() -> None:
    config = DeploymentConfigBuilder().cpus(2).gpus(1).memory("512Mi").replica_count(3).build()
    options = step_options(config, "m-1", native=True)
    assert options.ray_actor_options["num_cpus"] == 2
    assert options.ray_actor_options["num_gpus"] == 1
    assert options.ray_actor_options["memory"] == 512 * 2**20
    assert options.num_replicas == 3


@pytest.mark.parametrize(
    "build,expected",
    [
        (lambda b: b.replica_autoscale_min_max(5, 1),
         {"min_replicas": 1, "max_replicas": 5, "initial_replicas": 1, "target_ongoing_requests": 2}),
        (lambda b: b.replica_count(3).replica_autoscale_min_max(5),
         {"min_replicas": 0, "max_replicas": 5, "initial_replicas": 3, "target_ongoing_requests": 2}),
        (lambda b: b.replica_autoscale_min_max(4, 2).scale_up_queue_depth(7),
         {"min_replicas": 2, "max_replicas": 4, "initial_replicas": 2, "target_ongoing_requests": 7}),
    ],
    ids=["min-max", "replicas-start", "queue-depth"],
)
def test_step_autoscaling(build: Any, expected: dict[str, int]) -> None:
    options = step_options(build(DeploymentConfigBuilder()).build(), "m-1", native=True)
    assert options.autoscaling_config is not None
    for key, value in expected.items():
        assert options.autoscaling_config[key] == value
    kwargs = options.deployment_kwargs()
    assert "num_replicas" not in kwargs
    assert kwargs["autoscaling_config"]["max_replicas"] == expected["max_replicas"]


def test_autoscaling_window_becomes_the_look_back_period() -> None:
    config = (DeploymentConfigBuilder().replica_autoscale_min_max(3).scale_up_queue_depth(4)
              .autoscaling_window(120).build())
    autoscaling = step_options(config, "m", native=True).autoscaling_config
    assert autoscaling is not None
    assert autoscaling["look_back_period_s"] == 120
    assert autoscaling["target_ongoing_requests"] == 4


def test_sidekick_settings_apply_to_a_non_native_model_only() -> None:
    version = FakeModelVersion("sk-1")
    config = (DeploymentConfigBuilder()
              .cpus(1)
              .sidekick_cpus(version, 4)
              .sidekick_gpus(version, 1)
              .sidekick_memory(version, "2Gi")
              .sidekick_env(version, {"MODEL_MODE": "fast"})
              .build())
    sidekick = step_options(config, "sk-1", native=False).ray_actor_options
    assert sidekick["num_cpus"] == 4
    assert sidekick["num_gpus"] == 1
    assert sidekick["memory"] == 2 * 2**30
    assert sidekick["runtime_env"] == {"env_vars": {"MODEL_MODE": "fast"}}

    native = step_options(config, "sk-1", native=True).ray_actor_options
    assert native == {"num_cpus": 1}
    other = step_options(config, "other-uid", native=False).ray_actor_options
    assert other == {"num_cpus": 1}


@pytest.mark.parametrize("queued,expected", [(None, -1), (0, 0), (10, 10)])
def test_max_queued_requests(queued: int | None, expected: int) -> None:
    builder = DeploymentConfigBuilder()
    if queued is not None:
        builder = builder.max_queued_requests(queued)
    options = step_options(builder.build(), "m", native=True)
    assert options.max_queued_requests == expected
    assert options.deployment_kwargs()["max_queued_requests"] == expected


def test_max_ongoing_requests() -> None:
    options = step_options(DeploymentConfigBuilder().max_ongoing_requests(4).build(), "m", native=True)
    assert options.max_ongoing_requests == 4


def test_dynamic_batching_maps_onto_serve_batching() -> None:
    batching = {"batch_size_target": 8, "max_batch_delay_ms": 20}
    options = step_options(DeploymentConfig(), "m", native=True, dynamic_batching=batching)
    assert options.max_batch_size == 8
    assert options.batch_wait_timeout_s == pytest.approx(0.02)
    assert options.max_ongoing_requests >= 8
    assert step_options(DeploymentConfig(), "m", native=True).max_batch_size is None


# --------------------------------------------------------------------------- ingress


def test_ingress_reserves_no_cpu_by_default() -> None:
    options = ingress_options(DeploymentConfig())
    assert options.ray_actor_options == {"num_cpus": 0}
    assert options.num_replicas == 1
    assert options.autoscaling_config is None


def test_ingress_follows_lb_settings_only() -> None:
    config = DeploymentConfigBuilder().lb_cpus(0.5).lb_memory("256Mi").cpus(4).gpus(1).build()
    options = ingress_options(config)
    assert options.ray_actor_options == {"num_cpus": 0.5, "memory": 256 * 2**20}
