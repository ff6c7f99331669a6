"""``build_app``: a ``DeploymentSpec`` in, a Ray Serve application out.

``plan_app`` is the pure part (names, options, init arguments), tested without Ray;
``build_app`` only binds the plan. ``build_app_from_args`` is the import path for
``serve run`` / ``serve deploy`` and KubeRay's ``serveConfigV2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ray import serve
from ray.serve import Application
from ray.serve.deployment import Deployment

from joey.deployments.ingress import PipelineIngress
from joey.deployments.step import StepDeployment
from joey.spec import DeploymentSpec

INGRESS_NAME = "ingress"


@dataclass(frozen=True)
class DeploymentPlan:
    """One Serve deployment to create: its name, ``.options`` and init arguments."""

    name: str
    options: dict[str, Any]
    init_args: tuple[Any, ...]


@dataclass(frozen=True)
class AppPlan:
    name: str
    route_prefix: str
    ingress: DeploymentPlan
    steps: tuple[DeploymentPlan, ...]


def step_deployment_name(index: int, model_name: str) -> str:
    return f"step-{index}-{re.sub(r'[^a-z0-9-]', '-', model_name)}"


def plan_app(spec: DeploymentSpec) -> AppPlan:
    """What ``build_app`` will bind, as plain data."""
    steps = tuple(
        DeploymentPlan(
            name=step_deployment_name(index, step.model.name),
            options=step.options.deployment_kwargs(),
            init_args=(
                step.model.model_dump_json(),
                spec.cache_dir,
                step.options.max_batch_size,
                step.options.batch_wait_timeout_s,
            ),
        )
        for index, step in enumerate(spec.steps)
        if not spec.fused
    )
    ingress = DeploymentPlan(
        name=INGRESS_NAME,
        options=spec.ingress_options.deployment_kwargs(),
        init_args=(spec.to_json(),),
    )
    return AppPlan(spec.app_name, spec.route_prefix, ingress, steps)


def build_app(spec: DeploymentSpec) -> Application:
    """The Serve application for ``spec``: one deployment per step and the ingress."""
    plan = plan_app(spec)
    step_deployment = cast(Deployment, serve.deployment(StepDeployment))
    bound = [
        step_deployment.options(name=p.name, **p.options).bind(*p.init_args) for p in plan.steps
    ]
    ingress = cast(Deployment, serve.deployment(PipelineIngress))
    return ingress.options(name=plan.ingress.name, **plan.ingress.options).bind(
        *plan.ingress.init_args, *bound
    )


def build_app_from_args(args: dict[str, str]) -> Application:
    """``serve run joey.deployments.app:build_app_from_args spec=PATH_OR_JSON``."""
    raw = args["spec"]
    text = Path(raw).read_text() if not raw.lstrip().startswith("{") else raw
    return build_app(DeploymentSpec.from_json(text))
