"""Where each model runs for a given deployment config, and what the app plan makes of it."""

from __future__ import annotations

from typing import Any

import pytest
from test_unit_spec_and_app import HEAD, SCALER

from joey.autoscaling import (
    DeploymentConfig,
    DeploymentConfigBuilder,
    engine_options,
    place,
    step_options,
)
from joey.autoscaling.placement import HOSTED_MIN_ONGOING
from joey.cluster.serve_env import replica_env
from joey.config import Settings
from joey.deployments.app import INGRESS_NAME, plan_app
from joey.errors import PipelineConfigError
from joey.spec import (
    DeploymentSpec,
    ModelSpec,
    ModelStep,
    RandomSplitStep,
    ServeOptions,
    ShadowStep,
    Step,
)

BYOP = SCALER.model_copy(update={"name": "byop", "runtime": "flight", "framework": "custom"})


def native(branch: ModelStep) -> bool:
    return branch.model.runtime == "onnx"


def step(model: ModelSpec, config: DeploymentConfig, uid: str = "", batching: dict[str, Any] | None = None,
         isolated: bool = False) -> ModelStep:
    """A model step with the options spec_builder would give it."""
    options = step_options(config, uid, native(ModelStep(model=model)), batching)
    if isolated:
        model = model.model_copy(update={"environment": ("six==1.16.0",)})
    return ModelStep(model=model, options=options)


def placed(steps: list[Step], config: DeploymentConfig) -> tuple[list[list[bool]], ServeOptions]:
    result, ingress, _ = place(steps, config, native)
    return [[b.in_ingress for b in s.branches] for s in result], ingress


def spec_of(steps: tuple[Step, ...], ingress: ServeOptions, env: dict[str, str] | None = None) -> DeploymentSpec:
    return DeploymentSpec(workspace="ws", pipeline="p", pipeline_version="v", steps=steps,
                          ingress_options=ingress, cache_dir="/tmp/c", replica_env=env or {})


DEFAULT = DeploymentConfig()


def test_a_chain_of_native_models_runs_in_the_ingress_with_the_engine_resources() -> None:
    config = DeploymentConfigBuilder().cpus(1.5).replica_count(2).build()
    where, ingress = placed([step(SCALER, config), step(HEAD, config)], config)
    assert where == [[True], [True]]
    assert ingress.ray_actor_options["num_cpus"] == 1.5
    assert ingress.num_replicas == 2
    assert ingress.max_ongoing_requests == HOSTED_MIN_ONGOING


def test_the_ingress_runs_in_the_first_steps_replicas_even_when_it_is_not_native() -> None:
    config = DeploymentConfigBuilder().sidekick_cpus("byop-1", 0.5).replica_count(3).build()
    where, ingress = placed([step(BYOP, config, "byop-1"), step(HEAD, config)], config)
    # the BYOP step's resources differ from the engine's: the native head keeps a deployment
    assert where == [[True], [False]]
    assert ingress.ray_actor_options["num_cpus"] == 0.5
    assert ingress.num_replicas == 3


def test_a_model_with_settings_of_its_own_gets_a_deployment_of_its_own() -> None:
    batching = {"batch_size_target": 8, "max_batch_delay_ms": 5}
    where, _ = placed([step(SCALER, DEFAULT), step(HEAD, DEFAULT, batching=batching)], DEFAULT)
    assert where == [[True], [False]]


def test_a_first_step_with_batching_hosts_the_ingress_and_keeps_its_batching() -> None:
    batching = {"batch_size_target": 8, "max_batch_delay_ms": 5}
    steps, ingress, _ = place([step(SCALER, DEFAULT, batching=batching), step(HEAD, DEFAULT)], DEFAULT, native)
    assert [s.branches[0].in_ingress for s in steps] == [True, False]
    assert steps[0].branches[0].options.max_batch_size == 8
    assert ingress.ray_actor_options == steps[0].branches[0].options.ray_actor_options


def test_an_isolated_model_never_runs_in_the_ingress() -> None:
    where, ingress = placed([step(BYOP, DEFAULT, isolated=True), step(HEAD, DEFAULT)], DEFAULT)
    assert where == [[False], [True]]
    assert ingress == engine_options(DEFAULT).model_copy(update={"max_ongoing_requests": HOSTED_MIN_ONGOING})


def test_an_isolated_model_alone_leaves_a_separate_ingress_that_reserves_nothing() -> None:
    where, ingress = placed([step(BYOP, DEFAULT, isolated=True)], DEFAULT)
    assert where == [[False]]
    assert ingress.ray_actor_options == {"num_cpus": 0}


def test_split_branches_run_in_the_ingress_and_shadow_challengers_apart() -> None:
    other = SCALER.model_copy(update={"name": "scaler-b"})
    split = RandomSplitStep(branches=(step(SCALER, DEFAULT), step(other, DEFAULT)), weights=(1.0, 1.0))
    shadow = ShadowStep(branches=(step(HEAD, DEFAULT), step(HEAD.model_copy(update={"name": "head-b"}), DEFAULT)))
    where, _ = placed([split, shadow], DEFAULT)
    assert where == [[True, True], [True, False]]


def test_fuse_steps_false_gives_every_model_its_own_deployment() -> None:
    config = DeploymentConfigBuilder().fuse_steps(False).build()
    where, ingress = placed([step(SCALER, config), step(HEAD, config)], config)
    assert where == [[False], [False]]
    assert ingress.ray_actor_options == {"num_cpus": 0}


def test_fuse_steps_true_puts_every_model_in_the_ingress() -> None:
    config = DeploymentConfigBuilder().fuse_steps().build()
    batching = {"batch_size_target": 8, "max_batch_delay_ms": 5}
    where, _ = placed([step(SCALER, config), step(HEAD, config, batching=batching)], config)
    assert where == [[True], [True]]


def test_fuse_steps_true_refuses_composed_steps_and_models_that_are_not_native() -> None:
    config = DeploymentConfigBuilder().fuse_steps().build()
    split = RandomSplitStep(branches=(step(SCALER, config), step(SCALER, config)), weights=(1.0, 1.0))
    with pytest.raises(PipelineConfigError, match="chains of single models only"):
        place([split], config, native)
    with pytest.raises(PipelineConfigError, match=r"native steps only; \['byop'\]"):
        place([step(BYOP, config), step(HEAD, config)], config, native)


def test_a_configured_max_ongoing_is_kept() -> None:
    config = DeploymentConfigBuilder().max_ongoing_requests(4).build()
    _, ingress = placed([step(SCALER, config)], config)
    assert ingress.max_ongoing_requests == 4


def test_a_hosted_steps_queue_limit_becomes_the_ingress_s_own_admission_limit() -> None:
    config = DeploymentConfigBuilder().max_ongoing_requests(2).max_queued_requests(3).build()
    _, ingress, limit = place([step(SCALER, config)], config, native)
    assert limit == 5
    assert ingress.max_ongoing_requests > 5 and ingress.max_queued_requests == -1
    _, _, none = place([step(SCALER, DEFAULT)], DEFAULT, native)
    assert none is None


@pytest.mark.parametrize("hosted", [(True, True), (True, False), (False, False)])
def test_the_plan_has_a_deployment_for_each_model_placed_apart(hosted: tuple[bool, bool]) -> None:
    steps = (ModelStep(model=SCALER, in_ingress=hosted[0]), ModelStep(model=HEAD, in_ingress=hosted[1]))
    plan = plan_app(spec_of(steps, ServeOptions()))
    assert [p.name for p in plan.steps] == [name for name, h in zip(("step-0-scaler", "step-1-head"), hosted,
                                                                    strict=True) if not h]
    assert plan.ingress.name == INGRESS_NAME


def test_every_deployment_gets_the_replica_environment_and_keeps_its_own() -> None:
    env = replica_env(Settings())
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    isolated = ServeOptions(ray_actor_options={"num_cpus": 1, "runtime_env": {
        "env_vars": {"MODEL_MODE": "fast"}}})
    head = HEAD.model_copy(update={"environment": ("six==1.16.0",)})
    steps = (ModelStep(model=SCALER, in_ingress=True), ModelStep(model=head, options=isolated))
    plan = plan_app(spec_of(steps, ServeOptions(), env))
    ingress_env = plan.ingress.options["ray_actor_options"]["runtime_env"]["env_vars"]
    assert ingress_env == env
    step_runtime = plan.steps[0].options["ray_actor_options"]["runtime_env"]
    assert step_runtime["env_vars"] == {**env, "MODEL_MODE": "fast"}
    # the spec is portable: the environment travels as requirements, never as a path
    assert "py_executable" not in step_runtime
    assert plan.steps[0].environment == ("six==1.16.0",)


def test_slow_replica_settings_can_be_switched_off() -> None:
    env = replica_env(Settings(serve_fast_replicas=False, serve_drain_s=2.5))
    assert "RAY_SERVE_THROUGHPUT_OPTIMIZED" not in env
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] == "2.5"
