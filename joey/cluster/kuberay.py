"""A ``DeploymentSpec`` rendered as a Ray Serve config and as a KubeRay ``RayService`` manifest.

:func:`serve_config` is the ``serve deploy`` file (KubeRay's ``serveConfigV2``): one
application whose import path is ``joey.deployments.app:build_app_from_args`` and whose only
argument is the spec's JSON, so the cluster builds exactly the application joey builds in
process. Its ``deployments`` list repeats, for every Serve deployment, the options
``joey.deployments.app.plan_app`` gives it (replicas or autoscaling, ``ray_actor_options``,
request limits, the ingress's ``user_config``): the manifest shows each step's resources,
and deploying the config changes nothing, because every value equals what the code sets.
One exception: a step in an isolated environment keeps its ``ray_actor_options`` out of the
config. ``build_app`` gives that step its environment's python
(``runtime_env.py_executable``) on the machine that builds the application, and a config's
``ray_actor_options`` would replace the code's whole (Serve merges nothing but the
application's ``runtime_env``), dropping it.

:func:`rayservice_manifest` wraps that config in the smallest ``RayService`` that runs it:

- a head pod that runs no replicas (``num-cpus: "0"``): Ray's control processes, Serve's
  controller and the HTTP proxy keep their CPU, and replicas scale on workers only
  (replicas that reserve nothing, an ingress with ``num_cpus: 0``, may still land there);
- one CPU worker group, and one GPU worker group (``nvidia.com/gpu`` limits) when a
  deployment asks for GPUs, each pod big enough for the largest replica of its group and
  the group's pod counts packed from the replicas' reservations: ``minReplicas`` from the
  deployments' minimum replica counts, ``maxReplicas`` from their maximum, ``replicas``
  from their initial counts. Replicas that select Ray node labels (``deployment_label``)
  get groups of their own whose pods carry those labels; custom Ray resources are
  advertised by the pods of the groups whose replicas reserve them;
- Ray's in-tree autoscaler (``enableInTreeAutoscaling``) when any deployment autoscales,
  so pods follow Serve's replicas (autoscaler v2 when node labels are selected, the only
  one that scales for them); otherwise fixed pod counts;
- ``JOEY_ENVS_DIR`` in every container: where isolated environments are built (by the
  task that builds the application) and run from (by the replicas, on any worker), so the
  folder must be a shared volume or baked into the image. Replicas cache fetched artifacts
  in their node's temp dir (the spec names no cache).

joey's image is not published: the image must be Ray 2.60 (``rayproject/ray:2.60.0-py311``,
its ``-gpu`` variant for GPU steps) with joey installed. Artifact URIs and the inference
log's directory travel in the spec as they are, so they must be reachable from the pods
(``s3://``, ``gs://`` or a volume mounted at the same path).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from joey.spec import DeploymentSpec

if TYPE_CHECKING:
    from joey.deployments.app import AppPlan, DeploymentPlan

RAY_VERSION = "2.60.0"
"""The Ray of joey's own requirements; the image's Ray must be this one."""
DEFAULT_IMAGE = "rayproject/ray:2.60.0-py311"
"""Ray's own image: joey must be installed on top of it (``pip install joey``), since no
joey image is published."""
IMPORT_PATH = "joey.deployments.app:build_app_from_args"
API_VERSION = "ray.io/v1"

POD_ENVS_DIR = "/home/ray/joey-envs"
"""``JOEY_ENVS_DIR`` in the pods (Ray's images run as ``ray``): mount a shared volume here, or
build the environments into the image, when a step runs in an isolated environment."""
HEAD_RESOURCES = {"cpu": "1", "memory": "4Gi"}
"""The head runs Ray's control processes, Serve's controller and proxy, and no replica."""
WORKER_MEMORY_PER_CPU = 2 * 2**30
"""A worker pod's memory per CPU at least (KubeRay's samples: 2Gi for a CPU)."""
OBJECT_STORE_SHARE = 0.3
"""Share of a pod's memory that Ray keeps for its object store; the rest can be reserved."""
NAME_MAX = 47
"""KubeRay refuses RayService names longer than this (ray-operator/.../validation.go)."""

_OPTIONS = {"num_replicas", "autoscaling_config", "ray_actor_options", "max_ongoing_requests",
            "max_queued_requests", "graceful_shutdown_wait_loop_s", "user_config"}
"""The ``.options`` keys ``plan_app`` gives and the config renders; any other one fails
rendering, so the config cannot silently fall behind the code."""
_ACTOR_OPTIONS = {"num_cpus", "num_gpus", "memory", "resources", "accelerator_type", "label_selector",
                  "runtime_env"}
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def serve_config(spec: DeploymentSpec, *, http_host: str = "0.0.0.0", http_port: int = 8000) -> dict[str, Any]:
    """The Serve config (``serve deploy`` file, KubeRay's ``serveConfigV2``) that builds ``spec``.

    KubeRay serves on ``0.0.0.0:8000``; for a local head, ``http_host="127.0.0.1"`` and the
    port its Serve listens on.
    """
    from joey.deployments.app import plan_app

    plan = plan_app(spec)
    config = {
        "http_options": {"host": http_host, "port": http_port},
        "applications": [{
            "name": plan.name,
            "route_prefix": plan.route_prefix,
            "import_path": IMPORT_PATH,
            "args": {"spec": spec.to_json()},
            # As joey's own deploys: no per-request access log (joey/cluster/serve_apps.py).
            "logging_config": {"enable_access_log": False},
            "deployments": [_deployment(p) for p in (plan.ingress, *plan.steps)],
        }],
    }
    return _plain(config)


def _deployment(plan: DeploymentPlan) -> dict[str, Any]:
    unknown = set(plan.options) - _OPTIONS
    if unknown:
        raise ValueError(f"deployment {plan.name!r} has options the Serve config does not render: "
                         f"{sorted(unknown)}")
    entry: dict[str, Any] = {"name": plan.name}
    for key, value in plan.options.items():
        if key == "ray_actor_options":
            if plan.environment is not None:
                continue  # build_app sets them with the environment's python (module docstring)
            entry[key] = _actor_options(plan.name, value)
        elif key == "num_replicas" and value == 0:
            continue  # Serve's config takes positive counts only; the code's 0 stands
        else:
            entry[key] = value
    return entry


def _actor_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - _ACTOR_OPTIONS
    runtime_env = options.get("runtime_env") or {}
    unknown |= {f"runtime_env.{k}" for k in runtime_env if k != "env_vars"}
    if unknown:
        # e.g. py_executable or working_dir: paths of the machine that wrote the spec.
        raise ValueError(f"deployment {name!r} has ray_actor_options the Serve config does not "
                         f"render: {sorted(unknown)}")
    return dict(options)


def serve_config_yaml(spec: DeploymentSpec, **kwargs: Any) -> str:
    """:func:`serve_config` as YAML, ready for ``serve deploy``."""
    return dump_yaml(serve_config(spec, **kwargs))


def rayservice_manifest(spec: DeploymentSpec, *, image: str, name: str | None = None) -> dict[str, Any]:
    """A KubeRay ``RayService`` (``ray.io/v1``) that serves ``spec`` (module docstring).

    ``image``: Ray 2.60 with joey installed. ``name``: the RayService's name (default: from
    the workspace and pipeline names).
    """
    from joey.deployments.app import plan_app

    if name is None:
        name = resource_name(spec)
    elif len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise ValueError(f"a RayService name is a DNS-1035 label of at most {NAME_MAX} characters "
                         f"(lowercase letters, digits, '-', starting with a letter), got {name!r}")
    plan = plan_app(spec)
    env = [{"name": "JOEY_ENVS_DIR", "value": POD_ENVS_DIR}]
    groups = worker_groups(plan)
    cluster: dict[str, Any] = {"rayVersion": RAY_VERSION}
    if any("autoscaling_config" in p.options for p in _deployments(plan)):
        cluster["enableInTreeAutoscaling"] = True
        if any(group.labels for group in groups):
            # Only Ray's autoscaler v2 adds pods for replicas that select node labels.
            cluster["autoscalerOptions"] = {"version": "v2"}
    cluster["headGroupSpec"] = {
        "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
        "template": _pod("ray-head", image, env, HEAD_RESOURCES),
    }
    if groups:
        cluster["workerGroupSpecs"] = [group.spec(image, env) for group in groups]
    return {
        "apiVersion": API_VERSION,
        "kind": "RayService",
        "metadata": {"name": name},
        "spec": {"serveConfigV2": serve_config_yaml(spec), "rayClusterConfig": cluster},
    }


def resource_name(spec: DeploymentSpec) -> str:
    """``{workspace}-{pipeline}`` as a DNS-1035 label KubeRay accepts (a hash keeps long ones apart)."""
    raw = f"{spec.workspace}-{spec.pipeline}"
    name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", raw.lower())).strip("-")
    if not name[:1].isalpha():
        name = f"joey-{name}".rstrip("-")
    if len(name) > NAME_MAX:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
        name = f"{name[:NAME_MAX - 7].rstrip('-')}-{digest}"
    return name


def dump_yaml(document: dict[str, Any]) -> str:
    """YAML for a config or manifest: keys in order, no anchors, long strings on one line."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=2**31 - 1, allow_unicode=True)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Multi-line strings (serveConfigV2) as literal blocks, as KubeRay's samples write them.
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _text)


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON types only (tuples become lists; nothing shared between two places)."""
    return json.loads(json.dumps(document))  # type: ignore[no-any-return]


def _pod(container: str, image: str, env: list[dict[str, str]], resources: dict[str, str]) -> dict[str, Any]:
    return {"spec": {"containers": [{
        "name": container,
        "image": image,
        "env": [dict(e) for e in env],
        # Equal requests and limits: Ray sizes itself from them (KubeRay's advice).
        "resources": {"requests": dict(resources), "limits": dict(resources)},
    }]}}


# -- worker groups ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """What one replica of a deployment reserves, and how many replicas it runs."""

    deployment: str
    cpus: float
    gpus: float
    memory: int
    resources: tuple[tuple[str, float], ...]
    """Custom Ray resources, by name."""
    labels: tuple[tuple[str, str], ...]
    """The Ray node labels its ``label_selector`` asks for (joey's ``deployment_label``)."""
    minimum: int
    initial: int
    maximum: int


@dataclass(frozen=True)
class WorkerGroup:
    """A worker group: its pods' size and how many pods its replicas need."""

    name: str
    cpus: int
    gpus: int
    memory: int
    resources: tuple[tuple[str, float], ...]
    """Custom Ray resources each pod advertises."""
    labels: tuple[tuple[str, str], ...]
    """Ray node labels of its pods (KubeRay's ``labels`` field of the group)."""
    min_pods: int
    pods: int
    max_pods: int

    def spec(self, image: str, env: list[dict[str, str]]) -> dict[str, Any]:
        limits = {"cpu": str(self.cpus), "memory": f"{math.ceil(self.memory / 2**30)}Gi"}
        if self.gpus:
            limits["nvidia.com/gpu"] = str(self.gpus)
        start: dict[str, str] = {}
        if self.resources:
            # KubeRay's form: the JSON of --resources as one quoted string.
            custom = json.dumps({name: _number(amount) for name, amount in self.resources})
            start["resources"] = '"' + custom.replace('"', '\\"') + '"'
        group: dict[str, Any] = {
            "groupName": self.name,
            "replicas": self.pods,
            "minReplicas": self.min_pods,
            "maxReplicas": self.max_pods,
            "rayStartParams": start,
        }
        if self.labels:
            group["labels"] = dict(self.labels)
        group["template"] = _pod("ray-worker", image, env, limits)
        return group


def _number(amount: float) -> float | int:
    return int(amount) if float(amount).is_integer() else amount


_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def _deployments(plan: AppPlan) -> tuple[DeploymentPlan, ...]:
    return (plan.ingress, *plan.steps)


def reservations(plan: AppPlan) -> tuple[Reservation, ...]:
    """Each deployment's per-replica reservation and replica counts."""
    found = []
    for deployment in _deployments(plan):
        options = deployment.options
        actor = options.get("ray_actor_options") or {}
        autoscaling = options.get("autoscaling_config")
        if autoscaling is not None:
            low = int(autoscaling.get("min_replicas") or 0)
            high = int(autoscaling.get("max_replicas") or max(low, 1))
            start = autoscaling.get("initial_replicas")
            counts = (low, low if start is None else int(start), high)
        else:
            fixed = int(options.get("num_replicas") or 0)
            counts = (fixed, fixed, fixed)
        found.append(Reservation(
            deployment=deployment.name,
            cpus=float(actor.get("num_cpus") or 0),
            gpus=float(actor.get("num_gpus") or 0),
            memory=int(actor.get("memory") or 0),
            resources=tuple(sorted((str(k), float(v)) for k, v in (actor.get("resources") or {}).items())),
            labels=tuple(sorted((str(k), str(v)) for k, v in (actor.get("label_selector") or {}).items())),
            minimum=counts[0], initial=counts[1], maximum=counts[2],
        ))
    return tuple(found)


def worker_groups(plan: AppPlan) -> tuple[WorkerGroup, ...]:
    """One group per kind of pod the replicas need: ``cpu`` for replicas without GPUs, ``gpu``
    for the others, each apart by the node labels its replicas select (``cpu-zone-a``).
    Replicas that reserve and select nothing need no worker (the head takes them)."""
    needing = [r for r in reservations(plan) if r.cpus or r.gpus or r.memory or r.resources or r.labels]
    kinds: dict[tuple[bool, tuple[tuple[str, str], ...]], list[Reservation]] = {}
    for reservation in needing:
        for key, value in reservation.labels:
            if not _LABEL_VALUE.fullmatch(value):
                # Ray's selector operators (!value, in(...)) name no one label to give a group.
                raise ValueError(f"deployment {reservation.deployment!r}: label_selector {key}={value!r} is "
                                 f"not a plain label value; the manifest gives worker groups plain labels")
        kinds.setdefault((bool(reservation.gpus), reservation.labels), []).append(reservation)
    groups = []
    for (gpu, labels), members in sorted(kinds.items()):
        if not any(r.maximum for r in members):
            continue
        name = "-".join(["gpu" if gpu else "cpu", *(part for kv in labels for part in kv)])
        name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-")
        cpus = max(1, math.ceil(max(r.cpus for r in members)))
        gpus = math.ceil(max(r.gpus for r in members))
        largest = max(r.memory for r in members)
        memory = max(WORKER_MEMORY_PER_CPU * cpus,
                     math.ceil(largest / (1 - OBJECT_STORE_SHARE) / 2**30) * 2**30)
        custom: dict[str, float] = {}
        for reservation in members:
            for resource, amount in reservation.resources:
                custom[resource] = max(custom.get(resource, 1.0), amount)
        size = {"CPU": float(cpus), "GPU": float(gpus), "memory": float(int(memory * (1 - OBJECT_STORE_SHARE))),
                **custom}
        groups.append(WorkerGroup(
            name=name, cpus=cpus, gpus=gpus, memory=memory, resources=tuple(sorted(custom.items())),
            labels=labels,
            min_pods=_pods(members, size, "minimum"),
            pods=_pods(members, size, "initial"),
            max_pods=_pods(members, size, "maximum"),
        ))
    return tuple(groups)


def _pods(members: list[Reservation], size: dict[str, float], count: str) -> int:
    """Pods of ``size`` (Ray's resource names) that hold ``count`` replicas of each member,
    packed first-fit, largest first. A pod advertises at least 1 of each custom resource, or
    the most one replica asks."""
    items = sorted(({"GPU": r.gpus, "CPU": r.cpus, "memory": float(r.memory), **dict(r.resources)}
                    for r in members for _ in range(getattr(r, count))),
                   key=lambda need: (need["GPU"], need["CPU"], need["memory"]), reverse=True)
    free: list[dict[str, float]] = []
    for need in items:
        pod = next((p for p in free if all(amount <= p[name] + 1e-9 for name, amount in need.items())), None)
        if pod is None:
            pod = dict(size)
            free.append(pod)
        for name, amount in need.items():
            pod[name] -= amount
    return len(free)


__all__ = [
    "DEFAULT_IMAGE",
    "IMPORT_PATH",
    "POD_ENVS_DIR",
    "RAY_VERSION",
    "Reservation",
    "WorkerGroup",
    "dump_yaml",
    "rayservice_manifest",
    "reservations",
    "resource_name",
    "serve_config",
    "serve_config_yaml",
    "worker_groups",
]
