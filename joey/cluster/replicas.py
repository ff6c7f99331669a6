"""What runs where: a Serve application's replicas, and the cluster's GPUs.

Read through Ray's public APIs: named actors (Serve names each replica
``SERVE_REPLICA::{app}#{deployment}#{id}``) and the cluster's resources.
"""

from __future__ import annotations

from typing import Any

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


def _demand(actor: dict[str, Any]) -> dict[str, float]:
    """What one replica reserves, in Ray's resource names."""
    demand = {"CPU": float(actor.get("num_cpus") or 0), "GPU": float(actor.get("num_gpus") or 0),
              "memory": float(actor.get("memory") or 0)}
    demand.update({name: float(amount) for name, amount in (actor.get("resources") or {}).items()})
    return {name: amount for name, amount in demand.items() if amount}


def _fits(node: dict[str, Any], demand: dict[str, float], labels: dict[str, str]) -> bool:
    have = node.get("Resources") or {}
    node_labels = node.get("Labels") or {}
    return (all(have.get(name, 0.0) >= amount for name, amount in demand.items())
            and all(node_labels.get(key) == value for key, value in labels.items()))


def unplaceable(spec: DeploymentSpec) -> list[str]:
    """Why each deployment of ``spec`` that no live node of the cluster can hold one replica of
    (resources, labels) would never start; empty when every one fits somewhere.

    Checked against the nodes there are now: a cluster that adds nodes on demand (KubeRay's
    autoscaler) is given ``deploy_timeout_s`` instead, through Serve's own pending state.
    """
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    plan = plan_app(spec)
    problems = []
    for deployment in (plan.ingress, *plan.steps):
        actor = deployment.options.get("ray_actor_options") or {}
        demand, labels = _demand(actor), dict(actor.get("label_selector") or {})
        if any(_fits(node, demand, labels) for node in nodes):
            continue
        wants = ", ".join(f"{name}={amount:g}" for name, amount in demand.items()) or "nothing"
        where = f" on a node labelled {labels}" if labels else ""
        largest = ", ".join(
            "{" + ", ".join(f"{k}={v:g}" for k, v in sorted((n.get("Resources") or {}).items())
                            if k in ("CPU", "GPU", "memory") or k in demand)
            + (f", labels {_user_labels(n)}" if _user_labels(n) else "") + "}"
            for n in nodes)
        problems.append(f"deployment {deployment.name!r} asks for {wants} per replica{where}; "
                        f"no node of the Ray cluster has that (nodes: {largest})")
    return problems


def _user_labels(node: dict[str, Any]) -> dict[str, str]:
    """A node's labels without Ray's own (``ray.io/...``)."""
    return {k: v for k, v in (node.get("Labels") or {}).items() if not k.startswith("ray.io/")}
