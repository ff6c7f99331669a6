"""``pipeline.status()`` in Wallaroo's shape, from the Serve application's deployments.

Wallaroo reports pods: ``engines`` run the pipeline's native models, ``engine_lbs``
receive the requests, ``sidekicks`` run containerized models. joey's counterparts are
the replicas of each Serve deployment: the ingress (an ``engine_lbs`` entry, and also an
engine or sidekick entry naming the models placed in it), native steps, and steps that run a
model in its own framework (``flight``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from joey.platform.context import Context
from joey.runtimes.registry import NATIVE_RUNTIMES
from joey.spec import DeploymentSpec, ModelSpec

if TYPE_CHECKING:
    from joey.cluster import AppState

# Serve's deployment states -> the status words of the contract
_DEPLOYMENT_STATUS = {
    "HEALTHY": "Running", "UPSCALING": "Running", "DOWNSCALING": "Running",
    "UPDATING": "Starting", "UNHEALTHY": "Error", "DEPLOY_FAILED": "Error",
}


def _model_status(context: Context, workspace_id: int, model: ModelSpec, status: str) -> dict[str, Any]:
    row = context.store.get_model_version(workspace_id, model.name, model.version)
    return {"model_version_id": row.id if row else None, "name": model.name, "sha": model.sha,
            "status": status, "version": model.version}


def replica_statuses(context: Context, workspace_id: int, spec: DeploymentSpec,
                     state: AppState) -> dict[str, list[dict[str, Any]]]:
    """``engines``, ``engine_lbs`` and ``sidekicks``: one entry per live replica."""
    from joey.cluster.replicas import app_replicas, deployment_models

    replicas = app_replicas(spec.app_name)
    states = {d["name"]: d for d in state.deployments}
    result: dict[str, list[dict[str, Any]]] = {"engines": [], "engine_lbs": [], "sidekicks": []}
    layout = deployment_models(spec)
    ingress = next(iter(layout))  # the ingress comes first
    for deployment, models in layout.items():
        raw = states.get(deployment, {})
        status = _DEPLOYMENT_STATUS.get(str(raw.get("status")), "Starting")
        reason = raw.get("message") or None
        for replica in replicas.get(deployment, []):
            entry: dict[str, Any] = {"ip": replica.node_ip, "node_id": replica.node_id,
                                     "name": f"{deployment}-{replica.id}", "status": status,
                                     "reason": reason, "details": []}
            if deployment == ingress:
                result["engine_lbs"].append(entry)
            if not models:
                continue
            entry = {**entry, "details": []}
            if all(m.runtime in NATIVE_RUNTIMES for m in models):
                entry["pipeline_statuses"] = {"pipelines": [
                    {"id": spec.pipeline, "status": status, "version": spec.pipeline_version}]}
                entry["model_statuses"] = {"models": [
                    _model_status(context, workspace_id, m, status) for m in models]}
                result["engines"].append(entry)
            else:
                entry["statuses"] = "\n"
                result["sidekicks"].append(entry)
    return result
