"""What runs where: a Serve application's replicas, and the cluster's GPUs.

Read through Ray's public APIs: named actors (Serve names each replica
``SERVE_REPLICA::{app}#{deployment}#{id}``) and the cluster's resources.
"""

from __future__ import annotations

import ray

from joey.deployments.app import plan_app
from joey.spec import DeploymentSpec, ModelSpec

REPLICA_PREFIX = "SERVE_REPLICA::"


def app_replicas(app_name: str) -> dict[str, list[str]]:
    """Deployment name -> the ids of its live replicas, for one application."""
    found: dict[str, list[str]] = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"] if isinstance(actor, dict) else str(actor)
        if not name.startswith(REPLICA_PREFIX):
            continue
        app, _, rest = name[len(REPLICA_PREFIX):].partition("#")
        deployment, _, replica = rest.partition("#")
        if app == app_name and replica:
            found.setdefault(deployment, []).append(replica)
    return {deployment: sorted(ids) for deployment, ids in found.items()}


def node_address() -> str | None:
    """The address replicas run at when the cluster has one live node, else ``None``.

    (Which node a replica runs on is only known through Ray's state API, which
    needs the dashboard that embedded mode does not start.)
    """
    alive = [n for n in ray.nodes() if n.get("Alive")]
    return str(alive[0]["NodeManagerAddress"]) if len(alive) == 1 else None


def cluster_gpus() -> float:
    """GPUs the Ray cluster has in all (logical GPUs included)."""
    return float(ray.cluster_resources().get("GPU", 0.0))


def deployment_models(spec: DeploymentSpec) -> dict[str, tuple[ModelSpec, ...]]:
    """Each Serve deployment of ``spec``'s application -> the models it runs (the ingress runs
    those placed in it, maybe none)."""
    plan = plan_app(spec)
    layout: dict[str, tuple[ModelSpec, ...]] = {plan.ingress.name: tuple(b.model for b in spec.hosted)}
    for planned, branch in zip(plan.steps, spec.remote, strict=True):
        layout[planned.name] = (branch.model,)
    return layout
