"""A pipeline version's definition plus a DeploymentConfig -> the DeploymentSpec."""

from __future__ import annotations

import itertools
from typing import Any

from joey.autoscaling import DeploymentConfig, place, step_options
from joey.cluster.serve_env import replica_env
from joey.engine_config import SERVED_ACCELERATIONS, Acceleration
from joey.errors import DeploymentError, EntityNotFoundError, PipelineConfigError
from joey.platform import steps as step_json
from joey.platform.context import Context
from joey.platform.store import ModelVersionRow
from joey.runtimes.registry import NATIVE_RUNTIMES, record_for
from joey.spec import (
    DeploymentSpec,
    InferenceAuth,
    KeySplitStep,
    ModelSpec,
    ModelStep,
    RandomSplitStep,
    ServeOptions,
    ShadowStep,
    Step,
    TensorField,
    Validation,
)


def model_spec(row: ModelVersionRow) -> ModelSpec:
    tensor_fields = row.config.get("tensor_fields")
    return ModelSpec(
        name=row.name,
        version=row.version,
        sha=row.sha,
        framework=row.framework,
        runtime=row.runtime,
        artifact_uri=row.artifact_uri,
        file_name=row.file_name,
        inputs=tuple(TensorField.model_validate(f) for f in row.inputs),
        outputs=tuple(TensorField.model_validate(f) for f in row.outputs),
        tensor_fields=tuple(tensor_fields) if tensor_fields else None,
        runtime_config=dict(row.config.get("runtime_config") or {}),
        environment=_environment(row),
        extra_columns=_extra_columns(row),
    )


def _environment(row: ModelVersionRow) -> tuple[str, ...] | None:
    """The model's requirements when it runs in its own framework with an environment of its own."""
    requirements = row.config.get("requirements")
    if not requirements or row.runtime != record_for(row.framework).runtime:
        return None
    return tuple(requirements)


def _extra_columns(row: ModelVersionRow) -> Any:
    """What the model's framework does with request columns it does not declare."""
    record = record_for(row.framework)
    if row.runtime != record.runtime or record.extra_columns is None:
        return "ignore"
    return record.call(record.extra_columns, row.framework)


def _with_env_vars(options: ServeOptions, env_vars: dict[str, str]) -> ServeOptions:
    """The step's replicas get ``env_vars`` (its framework's, e.g. Hugging Face offline)."""
    if not env_vars:
        return options
    actor = dict(options.ray_actor_options)
    runtime_env = dict(actor.get("runtime_env", {}))
    runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), **env_vars}
    actor["runtime_env"] = runtime_env
    return options.model_copy(update={"ray_actor_options": actor})


def _check_accelerator(pipeline: str, row: ModelVersionRow, options: ServeOptions) -> None:
    """A model uploaded for an accelerator deploys only where joey can give it one."""
    accel = str(row.config.get("accel", Acceleration._None.value))
    if accel not in {a.value for a in SERVED_ACCELERATIONS}:
        served = ", ".join(a.value for a in SERVED_ACCELERATIONS)
        raise DeploymentError(pipeline, f"model {row.name!r} was uploaded with accel={accel!r}, "
                                        f"which joey cannot serve; joey serves accel {served}")
    if accel == Acceleration.CUDA and not options.ray_actor_options.get("num_gpus"):
        raise DeploymentError(
            pipeline, f"model {row.name!r} was uploaded with accel='cuda' but its step has no GPU: "
                      f"give it one with DeploymentConfigBuilder().gpus(1) or sidekick_gpus(model, 1)")


def _check_chain(spec_steps: list[Step]) -> None:
    """Each model of a step takes what the step before it outputs (its first model's outputs),
    and the models of a split answer the same outputs."""
    for step in spec_steps:
        if step.kind in ("random_split", "key_split"):
            names = {tuple(f.name for f in b.model.outputs) for b in step.branches}
            if len(names) > 1:
                raise PipelineConfigError(
                    f"the models of a split must answer the same outputs, got "
                    f"{[(b.model.name, [f.name for f in b.model.outputs]) for b in step.branches]}")
    for before_step, after_step in itertools.pairwise(spec_steps):
        before = before_step.branches[0].model
        produced = {f.name for f in before.outputs}
        for after in (b.model for b in after_step.branches):
            missing = [f.name for f in after.accepts if f.name not in produced]
            if missing:
                raise PipelineConfigError(
                    f"step {after.name!r} takes {missing} but step {before.name!r} outputs "
                    f"{sorted(produced)}; configure(tensor_fields=...) maps names onto its inputs"
                )


def _check_validations(validations: list[Validation], spec_steps: list[Step]) -> None:
    """A validation may name request columns (``in.*``, which may carry extra columns) and the
    outputs the pipeline produces; any other ``out*`` column is a 400 at deploy."""
    last = spec_steps[-1]
    known = {f"out.{f.name}" for f in last.branches[0].model.outputs}
    if any(s.kind in ("random_split", "key_split") for s in spec_steps):
        known.add("out._model_split")
    for step in spec_steps:
        if step.kind == "shadow":
            known |= {f"out_{b.model.name}.{f.name}" for b in step.branches[1:] for f in b.model.outputs}
    for validation in validations:
        try:
            roots = validation.expr().meta.root_names()
        except Exception as exc:
            raise PipelineConfigError(f"validation {validation.name!r} cannot be read: {exc}") from exc
        unknown = [r for r in roots if not r.startswith("in.") and r not in known]
        if unknown:
            raise PipelineConfigError(
                f"validation {validation.name!r} names {unknown}, which the pipeline does not "
                f"produce; it produces {sorted(known)} and in.<request column>")


class _Models:
    """Resolves a definition's model references into deployable model steps (store row,
    Serve options, accelerator check, isolated environment)."""

    def __init__(self, context: Context, workspace_id: int, pipeline: str, config: DeploymentConfig) -> None:
        self._context = context
        self._workspace_id = workspace_id
        self._pipeline = pipeline
        self._config = config

    def step(self, ref: dict[str, Any]) -> ModelStep:
        context, config = self._context, self._config
        row = context.store.get_model_version(self._workspace_id, ref["name"], ref["version"])
        if row is None:
            raise EntityNotFoundError("model", ref["name"], f"with the version {ref['version']}")
        if row.status != "ready":
            raise PipelineConfigError(
                f"model {row.name!r} version {row.version} has status {row.status!r}; see get_upload_logs()"
            )
        options = step_options(config, f"{row.name}-{row.id}", row.runtime in NATIVE_RUNTIMES,
                               row.config.get("dynamic_batching_config"))
        _check_accelerator(self._pipeline, row, options)
        model = model_spec(row)
        if model.environment is not None:
            options = _with_env_vars(options, dict(record_for(row.framework).env_vars))
        return ModelStep(model=model, options=options)


def _key_split(models: _Models, body: dict[str, Any]) -> KeySplitStep:
    """The default model first, then each other model once (a model is one deployment)."""
    refs = [body["control"]]
    routes: dict[str, int] = {}
    for value, ref in body["routes"].items():
        key = (ref["name"], ref["version"])
        found = next((i for i, r in enumerate(refs) if (r["name"], r["version"]) == key), None)
        if found is None:
            refs.append(ref)
            found = len(refs) - 1
        routes[value] = found
    return KeySplitStep(branches=tuple(models.step(r) for r in refs), meta_key=body["split_key"],
                        routes=routes)


def parse_definition(models: _Models, definition: list[dict[str, Any]]) -> tuple[list[Step], list[Validation]]:
    """Wallaroo's step list -> the spec's steps and the pipeline's validations."""
    spec_steps: list[Step] = []
    validations: list[Validation] = []
    index = 0
    while index < len(definition):
        (kind, body), = definition[index].items()
        if kind == step_json.MODEL_INFERENCE:
            branches = tuple(models.step(ref) for ref in body["models"])
            shadow = step_json.is_shadow_at(definition, index)
            if shadow or len(branches) > 1:
                spec_steps.append(ShadowStep(branches=branches))
                index += 2 if shadow else 0
            else:
                spec_steps.append(branches[0])
        elif kind == step_json.RANDOM_SPLIT:
            spec_steps.append(RandomSplitStep(
                branches=tuple(models.step(w["model"]) for w in body["weights"]),
                weights=tuple(float(w["weight"]) for w in body["weights"]), hash_key=body.get("hash_key")))
        elif kind == step_json.KEY_SPLIT:
            spec_steps.append(_key_split(models, body))
        elif kind == step_json.CHECK:
            for tree in body["tree"]:
                validation = Validation(name="", expression=tree)
                validations.append(validation.model_copy(update={"name": validation.expr().meta.output_name()}))
        elif kind not in (step_json.AUDIT, step_json.MULTI_OUT):
            raise PipelineConfigError(f"step {kind} is not supported")
        index += 1
    return spec_steps, validations


def no_steps_error(pipeline: str) -> PipelineConfigError:
    """What deploying a pipeline without a model step says, in either SDK mode."""
    return PipelineConfigError(f"pipeline {pipeline!r} has no steps; add_model_step() first")


def build_spec(
    context: Context,
    workspace: str,
    workspace_id: int,
    pipeline: str,
    pipeline_version: str,
    definition: list[dict[str, Any]],
    config: DeploymentConfig,
) -> DeploymentSpec:
    """Resolve every model of ``definition`` from the store and map ``config`` onto Serve."""
    models = _Models(context, workspace_id, pipeline, config)
    spec_steps, validations = parse_definition(models, definition)
    if not spec_steps:
        raise no_steps_error(pipeline)
    _check_chain(spec_steps)
    _check_validations(validations, spec_steps)
    placed, ingress, max_in_flight = place(spec_steps, config, lambda branch: branch.model.runtime in NATIVE_RUNTIMES)
    return DeploymentSpec(
        workspace=workspace,
        pipeline=pipeline,
        pipeline_version=pipeline_version,
        steps=placed,
        ingress_options=ingress,
        max_in_flight=max_in_flight,
        replica_env=replica_env(context.settings),
        validations=tuple(validations),
        shadow_grace_ms=context.settings.shadow_grace_ms,
        inference_auth=_inference_auth(context),
        log_dir=pipeline_log_dir(context, workspace, pipeline) if context.settings.inference_log else None,
        log_max_pending=context.settings.log_max_pending,
        log_segment_bytes=context.settings.log_segment_bytes,
        log_compact_interval_s=context.settings.log_compact_interval_s,
    )


def _inference_auth(context: Context) -> InferenceAuth | None:
    """Service mode: inference needs a token the service accepts (embedded mode: open)."""
    url = context.settings.service_url
    if not url:
        return None
    return InferenceAuth(check_url=f"{url.rstrip('/')}/v1/api/auth/check_inference",
                         cache_s=context.settings.service_auth_cache_s)


def pipeline_log_dir(context: Context, workspace: str, pipeline: str) -> str:
    """One log per pipeline, across its versions and deployments."""
    return f"{context.settings.logs_uri}/{workspace}/{pipeline}"
