"""A pipeline version's definition plus a DeploymentConfig -> the DeploymentSpec."""

from __future__ import annotations

import itertools
from typing import Any

from joey.autoscaling import DeploymentConfig, ingress_options, step_options
from joey.engine_config import SERVED_ACCELERATIONS, Acceleration
from joey.errors import DeploymentError, EntityNotFoundError, PipelineConfigError
from joey.platform.context import Context
from joey.platform.store import ModelVersionRow
from joey.spec import DeploymentSpec, ModelSpec, ModelStep, ServeOptions, TensorField

NATIVE_RUNTIMES = frozenset({"onnx", "tensorflow", "python"})


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
    )


def _isolated(context: Context, options: ServeOptions, requirements: list[str]) -> ServeOptions:
    """Run the step with its own environment's python (built now if it is not there yet)."""
    from joey.platform.environments import ensure_environment

    python = ensure_environment(requirements, context.settings.home / "envs", context.echo)
    actor = dict(options.ray_actor_options)
    actor["runtime_env"] = {**actor.get("runtime_env", {}), "py_executable": str(python)}
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


def _check_chain(steps: list[ModelSpec]) -> None:
    for before, after in itertools.pairwise(steps):
        produced = {f.name for f in before.outputs}
        missing = [f.name for f in after.accepts if f.name not in produced]
        if missing:
            raise PipelineConfigError(
                f"step {after.name!r} takes {missing} but step {before.name!r} outputs "
                f"{sorted(produced)}; configure(tensor_fields=...) maps names onto its inputs"
            )


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
    if not definition:
        raise PipelineConfigError(f"pipeline {pipeline!r} has no steps; add_model_step() first")
    steps: list[ModelStep] = []
    for entry in definition:
        (kind, body), = entry.items()
        if kind != "ModelInference" or len(body["models"]) != 1:
            raise PipelineConfigError(f"step {kind} is not supported yet")
        ref = body["models"][0]
        row = context.store.get_model_version(workspace_id, ref["name"], ref["version"])
        if row is None:
            raise EntityNotFoundError("model", ref["name"], f"with the version {ref['version']}")
        if row.status != "ready":
            raise PipelineConfigError(
                f"model {row.name!r} version {row.version} has status {row.status!r}; see get_upload_logs()"
            )
        options = step_options(config, f"{row.name}-{row.id}", row.runtime in NATIVE_RUNTIMES,
                               row.config.get("dynamic_batching_config"))
        _check_accelerator(pipeline, row, options)
        if row.config.get("requirements"):
            options = _isolated(context, options, row.config["requirements"])
        steps.append(ModelStep(model=model_spec(row), options=options))
    _check_chain([s.model for s in steps])
    if config.fuse_steps:
        isolated = [s.model.name for s in steps if s.model.runtime not in NATIVE_RUNTIMES]
        if isolated:
            raise PipelineConfigError(f"fuse_steps runs native steps only; {isolated} are not native")
    return DeploymentSpec(
        workspace=workspace,
        pipeline=pipeline,
        pipeline_version=pipeline_version,
        steps=tuple(steps),
        ingress_options=ingress_options(config),
        cache_dir=str(context.settings.cache_dir),
        fused=config.fuse_steps,
    )
