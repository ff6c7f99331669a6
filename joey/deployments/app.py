"""``build_app``: a ``DeploymentSpec`` in, a Ray Serve application out.

``plan_app`` is the pure part (names, options, init arguments), tested without Ray;
``build_app`` only binds the plan. ``build_app_from_args`` is the import path for
``serve run`` / ``serve deploy`` and KubeRay's ``serveConfigV2``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

from ray import serve
from ray.serve import Application
from ray.serve.deployment import Deployment

from joey.deployments.ingress import PipelineIngress
from joey.deployments.step import StepDeployment
from joey.spec import DeploymentSpec

logger = logging.getLogger(__name__)

INGRESS_NAME = "ingress"


@dataclass(frozen=True)
class DeploymentPlan:
    """One Serve deployment to create: its name, ``.options`` and init arguments."""

    name: str
    options: dict[str, Any]
    init_args: tuple[Any, ...]
    environment: tuple[str, ...] | None = None
    """Requirements of the model's isolated environment; ``build_app`` gives the replicas its
    python (``runtime_env.py_executable``), built on the machine that builds the application."""


@dataclass(frozen=True)
class AppPlan:
    name: str
    route_prefix: str
    ingress: DeploymentPlan
    steps: tuple[DeploymentPlan, ...]


def step_deployment_name(index: int, model_name: str, branch: int | None = None) -> str:
    """``step-{index}-{model}``; a model of a split or shadow: ``step-{index}-{branch}-{model}``."""
    name = re.sub(r'[^a-z0-9-]', '-', model_name)
    return f"step-{index}-{name}" if branch is None else f"step-{index}-{branch}-{name}"


def plan_app(spec: DeploymentSpec) -> AppPlan:
    """What ``build_app`` will bind, as plain data: the ingress (which runs the models placed in
    it) and one deployment per model placed apart."""
    steps = tuple(
        DeploymentPlan(
            name=step_deployment_name(index, branch.model.name, None if step.kind == "model" else number),
            options=_with_env(branch.options.deployment_kwargs(), spec.replica_env),
            init_args=(
                branch.model.model_dump_json(),
                spec.cache_dir,
                branch.options.max_batch_size,
                branch.options.batch_wait_timeout_s,
            ),
            environment=branch.model.environment,
        )
        for index, step in enumerate(spec.steps)
        for number, branch in enumerate(step.branches)
        if not branch.in_ingress
    )
    ingress = DeploymentPlan(
        name=INGRESS_NAME,
        options={**_with_env(spec.ingress_options.deployment_kwargs(), spec.replica_env),
                 "user_config": spec.live_config()},
        init_args=(spec.without_live().to_json(),),
    )
    return AppPlan(spec.app_name, spec.route_prefix, ingress, steps)


def _with_env(kwargs: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Deployment options with ``env`` added to the replica's environment (its own win)."""
    if not env:
        return kwargs
    actor = dict(kwargs.get("ray_actor_options") or {})
    runtime_env = dict(actor.get("runtime_env") or {})
    runtime_env["env_vars"] = {**env, **(runtime_env.get("env_vars") or {})}
    actor["runtime_env"] = runtime_env
    return {**kwargs, "ray_actor_options": actor}


def retired_steps(previous: DeploymentSpec, spec: DeploymentSpec) -> tuple[DeploymentPlan, ...]:
    """The step deployments of ``previous`` that ``spec`` no longer has."""
    keep = {p.name for p in plan_app(spec).steps}
    return tuple(p for p in plan_app(previous).steps if p.name not in keep)


def build_app(spec: DeploymentSpec, retired: tuple[DeploymentPlan, ...] = (),
              envs_dir: Path | None = None) -> Application:
    """The Serve application for ``spec``: one deployment per model and the ingress.

    ``retired``: step deployments of the version being replaced, kept in the application
    (bound to the ingress, which never calls them) until every old ingress replica is gone,
    so a hot swap fails no request. ``envs_dir``: where models' isolated environments are
    built and kept on this machine (default: ``JOEY_ENVS_DIR``, else ``JOEY_HOME/envs``); every
    node that runs such a model must see the same path (a shared volume, or an image that has
    them built: ``joey.runtimes.environments``).
    """
    plan = plan_app(spec)
    step_deployment = cast(Deployment, serve.deployment(StepDeployment))
    bound = [
        _versioned(step_deployment.options(name=p.name, **_with_python(p, envs_dir)), p).bind(*p.init_args)
        for p in (*plan.steps, *retired)
    ]
    ingress = cast(Deployment, serve.deployment(PipelineIngress))
    return _versioned(ingress.options(name=plan.ingress.name, **plan.ingress.options), plan.ingress).bind(
        *plan.ingress.init_args, *bound
    )


def _with_python(plan: DeploymentPlan, envs_dir: Path | None) -> dict[str, Any]:
    """The plan's options, with its isolated environment's python when it has one."""
    if plan.environment is None:
        return plan.options
    from joey.config import Settings
    from joey.runtimes.environments import ensure_environment

    python = ensure_environment(list(plan.environment), envs_dir or Settings().resolved_envs_dir, logger.info)
    actor = dict(plan.options.get("ray_actor_options") or {})
    actor["runtime_env"] = {**(actor.get("runtime_env") or {}), "py_executable": str(python)}
    return {**plan.options, "ray_actor_options": actor}


def code_version(plan: DeploymentPlan) -> str:
    """What decides whether a redeploy restarts a deployment's replicas: joey's version and
    the deployment's own arguments (the spec without live settings, or the model).

    Serve gives a deployment without a version a random one on every ``serve.run``, so each
    redeploy restarted every replica, and ``user_config`` could never apply in place.
    """
    basis = json.dumps([version("joey"), plan.name, [a for a in plan.init_args if isinstance(a, str | int | float)
                                                     or a is None]], sort_keys=True)
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _versioned(deployment: Deployment, plan: DeploymentPlan) -> Deployment:
    # Serve 2.60 keeps ``version`` for its own callers (``_internal``); it is the only way to
    # give an imperatively deployed application stable versions (serve deploy files get one
    # from their import path). Options the user set are recorded by the call before this one.
    return deployment.options(version=code_version(plan), _internal=True)


def build_app_from_args(args: dict[str, str]) -> Application:
    """``serve run joey.deployments.app:build_app_from_args spec=PATH_OR_JSON [envs_dir=PATH]``."""
    raw = args["spec"]
    text = Path(raw).read_text() if not raw.lstrip().startswith("{") else raw
    envs_dir = args.get("envs_dir")
    return build_app(DeploymentSpec.from_json(text), envs_dir=Path(envs_dir) if envs_dir else None)
