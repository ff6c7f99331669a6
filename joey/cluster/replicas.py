"""What runs where: a Serve application's replicas, and the cluster's GPUs.

Read from the Serve controller's record of each application and from the cluster's nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from joey.deployments.app import plan_app
from joey.spec import DeploymentSpec, ModelSpec


@dataclass(frozen=True)
class Replica:
    """One live replica of a Serve deployment and the node it runs on."""

    id: str
    node_id: str
    node_ip: str


def app_replicas(app_name: str) -> dict[str, list[Replica]]:
    """Deployment name -> its live replicas (by id; stopping ones left out), for one application.

    From the Serve controller's own record (the one Serve's REST API and ``serve status``
    read; ``_get_global_client`` is how Serve's CLI reaches it without the dashboard).
    """
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    if client is None:
        return {}
    details = client.get_serve_details()
    deployments = (details.get("applications", {}).get(app_name) or {}).get("deployments", {})
    return {
        name: sorted((Replica(str(r["replica_id"]), str(r.get("node_id") or ""), str(r.get("node_ip") or ""))
                      for r in deployment.get("replicas", []) if r.get("state") != "STOPPING"),
                     key=lambda replica: replica.id)
        for name, deployment in deployments.items()
    }


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


def reserved_cpus(spec: DeploymentSpec) -> float:
    """CPU cores ``spec``'s application reserves with every Serve deployment (the ingress
    included) at its most replicas: its fixed count, or its autoscaling maximum."""
    from joey.cluster.kuberay import reservations

    return sum(r.cpus * r.maximum for r in reservations(plan_app(spec)))


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
        have = ", ".join(_describe(node, demand) for node in nodes)
        problems.append(f"deployment {deployment.name!r} asks for {wants} per replica{where}; "
                        f"no node of the Ray cluster has that (nodes: {have})")
    return problems


def _describe(node: dict[str, Any], demand: dict[str, float]) -> str:
    """A node's CPUs, GPUs, memory, the custom resources asked for, and its own labels."""
    have = ", ".join(f"{k}={v:g}" for k, v in sorted((node.get("Resources") or {}).items())
                     if k in ("CPU", "GPU", "memory") or k in demand)
    labels = _user_labels(node)
    return "{" + have + (f", labels {labels}" if labels else "") + "}"


def _user_labels(node: dict[str, Any]) -> dict[str, str]:
    """A node's labels without Ray's own (``ray.io/...``)."""
    return {k: v for k, v in (node.get("Labels") or {}).items() if not k.startswith("ray.io/")}
