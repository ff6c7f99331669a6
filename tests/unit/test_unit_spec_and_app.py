"""The deployment spec, the app plan and the pipeline runner, with fake step handles."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from joey.deployments.app import plan_app
from joey.deployments.runner import PipelineRunner
from joey.errors import InvalidInputError, ModelError
from joey.spec import DeploymentSpec, ModelSpec, ModelStep, ServeOptions, TensorField
from joey.tables import DatasetFilter

W1 = np.array([[1.0, 0.5], [-2.0, 1.0], [0.25, 3.0]], np.float32)  # 3 -> 2
W2 = np.array([[2.0], [-1.0]], np.float32)  # 2 -> 1


def model(name: str, inputs: tuple[TensorField, ...], outputs: tuple[TensorField, ...],
          tensor_fields: tuple[str, ...] | None = None, sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        name=name,
        version="0f1e2d3c-0000-4000-8000-000000000001",
        sha=sha or f"{name}-sha256",
        framework="onnx",
        runtime="onnx",
        artifact_uri=f"file:///artifacts/{name}/model.onnx",
        file_name="model.onnx",
        inputs=inputs,
        outputs=outputs,
        tensor_fields=tensor_fields,
    )


SCALER = model(
    "scaler",
    (TensorField(name="dense_input", dtype="float32", shape=(3,)),),
    (TensorField(name="hidden", dtype="float32", shape=(2,)),),
    tensor_fields=("tensor",),
)
HEAD = model(
    "head",
    (TensorField(name="features", dtype="float32", shape=(2,)),),
    (TensorField(name="score", dtype="float32", shape=(1,)),),
    tensor_fields=("hidden",),
    sha="bc85ce596945f876256f41515c7501c399fd97ebcb9ab3dd41bf03f8937b4507",
)


def two_step_spec(**step_options: ServeOptions) -> DeploymentSpec:
    return DeploymentSpec(
        workspace="fraud-ws",
        pipeline="ccfraud-pipe",
        pipeline_version="f1a270ed-867c-407d-9b15-c0584db7c463",
        steps=(
            ModelStep(model=SCALER, options=step_options.get("scaler", ServeOptions())),
            ModelStep(model=HEAD, options=step_options.get("head", ServeOptions())),
        ),
        cache_dir="/tmp/joey-cache",
    )


# --------------------------------------------------------------------------- spec


def test_spec_json_round_trip() -> None:
    spec = two_step_spec(head=ServeOptions(num_replicas=3, ray_actor_options={"num_cpus": 2}))
    text = spec.to_json()
    assert isinstance(text, str)
    assert json.loads(text)["pipeline"] == "ccfraud-pipe"
    assert DeploymentSpec.from_json(text) == spec
    assert DeploymentSpec.from_json(text.encode()) == spec


def test_spec_json_keeps_any_size_dimensions_and_tuples() -> None:
    field = TensorField(name="img", dtype="uint8", shape=(None, 224, 3))
    spec = two_step_spec().model_copy(update={"steps": (ModelStep(model=model("cnn", (field,), (field,))),)})
    copy = DeploymentSpec.from_json(spec.to_json())
    assert copy.steps[0].model.inputs[0].shape == (None, 224, 3)
    assert isinstance(copy.steps, tuple)
    assert copy == spec


def test_spec_is_frozen() -> None:
    spec = two_step_spec()
    with pytest.raises(ValidationError):
        spec.workspace = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        spec.steps[0].model.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TensorField(name="x", dtype="float32").dtype = "int64"  # type: ignore[misc]
    assert spec.workspace == "fraud-ws"


def test_spec_rejects_unknown_fields() -> None:
    data = json.loads(two_step_spec().to_json())
    data["surprise"] = 1
    with pytest.raises(ValidationError):
        DeploymentSpec.from_json(json.dumps(data))


def test_app_name_and_route_prefix() -> None:
    spec = two_step_spec()
    assert spec.app_name == "fraud-ws-ccfraud-pipe"
    assert spec.route_prefix == "/infer/fraud-ws/ccfraud-pipe"


def test_input_fields_are_the_first_steps_accepted_fields() -> None:
    assert two_step_spec().input_fields == (TensorField(name="tensor", dtype="float32", shape=(3,)),)


def test_model_spec_accepts_and_rename_without_tensor_fields() -> None:
    plain = model("m", (*SCALER.inputs, TensorField(name="mask", dtype="bool")), SCALER.outputs)
    assert plain.accepts == plain.inputs
    assert plain.rename == {"dense_input": "dense_input", "mask": "mask"}


def test_model_spec_accepts_and_rename_with_tensor_fields() -> None:
    assert SCALER.accepts == (TensorField(name="tensor", dtype="float32", shape=(3,)),)
    assert SCALER.rename == {"tensor": "dense_input"}
    two = model(
        "two",
        (TensorField(name="input_1", dtype="float32", shape=(10,)),
         TensorField(name="input_2", dtype="float32", shape=(5,))),
        (TensorField(name="output_1", dtype="float32", shape=(3,)),),
        tensor_fields=("a", "b"),
    )
    assert [f.name for f in two.accepts] == ["a", "b"]
    assert [f.shape for f in two.accepts] == [(10,), (5,)]
    assert two.rename == {"a": "input_1", "b": "input_2"}


def test_tensor_field_describe() -> None:
    assert TensorField(name="x", dtype="float32", shape=(29,)).describe() == "float32[29]"
    assert TensorField(name="x", dtype="int64").describe() == "int64"
    assert TensorField(name="x", dtype="uint8", shape=(None, 3)).describe() == "uint8[?,3]"


# --------------------------------------------------------------------------- serve options and plan


def test_deployment_kwargs_with_a_fixed_replica_count() -> None:
    options = ServeOptions(num_replicas=3, ray_actor_options={"num_cpus": 1.5}, max_queued_requests=8)
    kwargs = options.deployment_kwargs()
    assert kwargs["num_replicas"] == 3
    assert "autoscaling_config" not in kwargs
    assert kwargs["ray_actor_options"] == {"num_cpus": 1.5}
    assert kwargs["max_ongoing_requests"] == 16
    assert kwargs["max_queued_requests"] == 8


def test_stopping_replicas_check_for_done_requests_often() -> None:
    """Serve's default check every 2 s made each undeploy wait that long for idle replicas."""
    kwargs = ServeOptions().deployment_kwargs()
    assert 0 < kwargs["graceful_shutdown_wait_loop_s"] <= 0.5


def test_deployment_kwargs_with_autoscaling_drop_num_replicas() -> None:
    autoscaling = {"min_replicas": 0, "max_replicas": 5, "target_ongoing_requests": 2}
    kwargs = ServeOptions(num_replicas=2, autoscaling_config=autoscaling).deployment_kwargs()
    assert kwargs["autoscaling_config"] == autoscaling
    assert "num_replicas" not in kwargs


def test_deployment_kwargs_are_copies() -> None:
    options = ServeOptions(ray_actor_options={"num_cpus": 1}, autoscaling_config={"max_replicas": 2})
    kwargs = options.deployment_kwargs()
    kwargs["ray_actor_options"]["num_cpus"] = 99
    kwargs["autoscaling_config"]["max_replicas"] = 99
    assert options.ray_actor_options == {"num_cpus": 1}
    assert options.autoscaling_config == {"max_replicas": 2}


def test_plan_app_has_one_deployment_per_step() -> None:
    scaler_options = ServeOptions(num_replicas=2, ray_actor_options={"num_cpus": 1})
    head_options = ServeOptions(autoscaling_config={"min_replicas": 1, "max_replicas": 4})
    spec = two_step_spec(scaler=scaler_options, head=head_options)
    plan = plan_app(spec)
    assert plan.name == "fraud-ws-ccfraud-pipe"
    assert plan.route_prefix == "/infer/fraud-ws/ccfraud-pipe"
    assert [step.name for step in plan.steps] == ["step-0-scaler", "step-1-head"]
    assert plan.steps[0].options == scaler_options.deployment_kwargs()
    assert plan.steps[1].options == head_options.deployment_kwargs()
    for step, deployed in zip(plan.steps, spec.steps, strict=True):
        model_json, cache_dir = step.init_args[:2]
        assert ModelSpec.model_validate_json(model_json) == deployed.model
        assert cache_dir == "/tmp/joey-cache"


def test_plan_app_names_are_valid_for_model_names_with_other_characters() -> None:
    odd = model("cc_fraud.v2", SCALER.inputs, SCALER.outputs)
    spec = two_step_spec().model_copy(update={"steps": (ModelStep(model=odd),)})
    assert [step.name for step in plan_app(spec).steps] == ["step-0-cc-fraud-v2"]


def test_plan_app_ingress_gets_the_spec() -> None:
    spec = two_step_spec()
    ingress = plan_app(spec).ingress
    assert ingress.init_args == (spec.without_live().to_json(),)
    assert DeploymentSpec.from_json(ingress.init_args[0]).with_live(ingress.options["user_config"]) == spec
    assert ingress.options == {**spec.ingress_options.deployment_kwargs(), "user_config": spec.live_config()}
    assert ingress.options["ray_actor_options"]["num_cpus"] == 0
    assert ingress.name not in {step.name for step in plan_app(spec).steps}


# --------------------------------------------------------------------------- runner with fake handles


class FakeClock:
    """Nanoseconds that only move when a fake step says it took time."""

    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


class FakeStep:
    """A step handle: ``await step.predict.remote(data)`` runs ``fn`` as the replica would.

    Like the step deployment, it feeds the model its own input names (``tensor_fields``
    renaming) and answers the model's outputs.
    """

    def __init__(self, spec: ModelSpec, fn: Callable[..., dict[str, np.ndarray]],
                 clock: FakeClock | None = None, takes_ns: int = 0) -> None:
        self.spec = spec
        self.fn = fn
        self.clock = clock
        self.takes_ns = takes_ns
        self.calls: list[dict[str, np.ndarray]] = []
        self.predict = self

    async def remote(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append(data)
        await asyncio.sleep(0)
        if self.clock is not None:
            self.clock.now += self.takes_ns
        feed = {name: data[caller] for caller, name in self.spec.rename.items()}
        return self.fn(**feed)


def scaler_fn(dense_input: np.ndarray) -> dict[str, np.ndarray]:
    return {"hidden": dense_input @ W1}


def head_fn(features: np.ndarray) -> dict[str, np.ndarray]:
    return {"score": 1.0 / (1.0 + np.exp(-(features @ W2)))}


X = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [3.0, 2.0, 1.0]], np.float32)


def request() -> pa.Table:
    tensor = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 3)
    return pa.table({"tensor": tensor, "index": ["a", "b", "c"]})


def run(runner: PipelineRunner, table: pa.Table, wanted: DatasetFilter | None = None) -> pa.Table:
    return asyncio.run(runner.run(table, wanted or DatasetFilter()))


def test_two_step_chain_matches_numpy() -> None:
    clock = FakeClock()
    steps = [FakeStep(SCALER, scaler_fn, clock, 700), FakeStep(HEAD, head_fn, clock, 300)]
    runner = PipelineRunner(two_step_spec(), steps, partition="replica-1", clock_ns=clock,
                            wall_ms=lambda: 1721686245906)
    result = run(runner, request())

    expected = 1.0 / (1.0 + np.exp(-((X @ W1) @ W2)))
    assert result.column_names == [
        "time", "in.tensor", "in.index", "out.score", "anomaly.count",
        "metadata.last_model", "metadata.pipeline_version", "metadata.elapsed",
        "metadata.dropped", "metadata.partition",
    ]
    np.testing.assert_allclose(np.array(result.column("out.score").to_pylist()), expected, rtol=1e-6)
    assert result.schema.field("out.score").type == pa.list_(pa.field("inner", pa.float32(), nullable=False))
    assert result.column("in.tensor").to_pylist() == X.tolist()
    assert result.column("in.index").to_pylist() == ["a", "b", "c"]
    assert result.column("anomaly.count").to_pylist() == [0, 0, 0]
    assert result.column("time").cast(pa.int64()).to_pylist() == [1721686245906] * 3

    # Each step got the previous step's output, by the caller's names.
    assert list(steps[0].calls[0]) == ["tensor"]
    assert steps[0].calls[0]["tensor"].dtype == np.float32
    np.testing.assert_array_equal(steps[0].calls[0]["tensor"], X)
    assert list(steps[1].calls[0]) == ["hidden"]
    np.testing.assert_allclose(steps[1].calls[0]["hidden"], X @ W1)


def test_metadata_of_a_run() -> None:
    clock = FakeClock()
    steps = [FakeStep(SCALER, scaler_fn, clock, 700), FakeStep(HEAD, head_fn, clock, 300)]
    runner = PipelineRunner(two_step_spec(), steps, partition="replica-1", clock_ns=clock)
    result = run(runner, request())

    elapsed = result.column("metadata.elapsed").to_pylist()
    assert all(len(row) == len(steps) + 1 for row in elapsed)
    assert elapsed[0] == [0, 700, 300]  # input validation took no fake time; then each step
    last_model = json.loads(result.column("metadata.last_model")[0].as_py())
    assert last_model == {"model_name": "head", "model_sha": HEAD.sha}
    assert result.column("metadata.pipeline_version").to_pylist() == ["f1a270ed-867c-407d-9b15-c0584db7c463"] * 3
    assert result.column("metadata.partition").to_pylist() == ["replica-1"] * 3
    assert result.column("metadata.dropped").to_pylist() == [[], [], []]


def test_metadata_elapsed_with_real_clocks() -> None:
    steps = [FakeStep(SCALER, scaler_fn), FakeStep(HEAD, head_fn)]
    result = run(PipelineRunner(two_step_spec(), steps, partition="p"), request())
    elapsed = result.column("metadata.elapsed")[0].as_py()
    assert len(elapsed) == 3
    assert all(isinstance(ns, int) and ns >= 0 for ns in elapsed)


def test_runner_honours_the_dataset_filter() -> None:
    steps = [FakeStep(SCALER, scaler_fn), FakeStep(HEAD, head_fn)]
    runner = PipelineRunner(two_step_spec(), steps, partition="p")
    result = run(runner, request(), DatasetFilter.for_sdk(["time", "out"], None))
    assert result.column_names == ["time", "out.score"]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_runner_needs_one_handle_per_model(count: int) -> None:
    steps = [FakeStep(SCALER, scaler_fn) for _ in range(count)]
    with pytest.raises(ValueError, match="2 models"):
        PipelineRunner(two_step_spec(), steps, partition="p")


def test_missing_input_column_fails_before_any_step_runs() -> None:
    steps = [FakeStep(SCALER, scaler_fn), FakeStep(HEAD, head_fn)]
    runner = PipelineRunner(two_step_spec(), steps, partition="p")
    table = pa.table({"dense_input": request().column("tensor")})  # the model's name, not the field's
    with pytest.raises(InvalidInputError) as info:
        run(runner, table)
    assert info.value.column == "tensor"
    assert "dense_input" in info.value.actual
    assert steps[0].calls == []
    assert steps[1].calls == []


def test_wrong_input_width_fails_before_any_step_runs() -> None:
    steps = [FakeStep(SCALER, scaler_fn), FakeStep(HEAD, head_fn)]
    runner = PipelineRunner(two_step_spec(), steps, partition="p")
    table = pa.table({"tensor": pa.array([[1.0, 2.0]])})
    with pytest.raises(InvalidInputError) as info:
        run(runner, table)
    assert info.value.column == "tensor"
    assert info.value.expected == "float32[3]"
    assert steps[0].calls == []


def test_a_failing_step_propagates_its_error() -> None:
    def broken(features: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ARG001 - called by input name
        raise ModelError("head", "ValueError: boom")

    steps = [FakeStep(SCALER, scaler_fn), FakeStep(HEAD, broken)]
    runner = PipelineRunner(two_step_spec(), steps, partition="p")
    with pytest.raises(ModelError, match="boom"):
        run(runner, request())
    assert len(steps[0].calls) == 1


def test_live_settings_travel_as_user_config_and_leave_the_ingress_arguments_alone() -> None:
    import polars as pl

    from joey.spec import RandomSplitStep, Validation

    base = two_step_spec()
    head = base.steps[1]
    split = RandomSplitStep(branches=(head, head.model_copy(update={"model": head.model.model_copy(
        update={"name": "head-b"})})), weights=(2.0, 1.0))
    check = Validation(name="high", expression=(pl.col("out.score").list.get(0) > 0.5).meta.serialize(format="json"))
    first = base.model_copy(update={"steps": (base.steps[0], split), "validations": (check,)})
    second = first.model_copy(update={"pipeline_version": "v2",
        "steps": (base.steps[0], split.model_copy(update={"weights": (0.0, 1.0)})), "validations": ()})
    one, two = plan_app(first).ingress, plan_app(second).ingress
    assert one.init_args == two.init_args  # Serve reconfigures the running ingress, no restart
    assert one.options["user_config"] != two.options["user_config"]
    restored = DeploymentSpec.from_json(one.init_args[0]).with_live(one.options["user_config"])
    assert restored == first
