"""KubeRay manifests and Serve configs rendered from real SDK specs (``joey.cluster.kuberay``).

Each manifest is checked against KubeRay v1.7.0's RayService schema (vendored in
``kuberay/``, see its README) plus the rules KubeRay's operator enforces in code, and its
``serveConfigV2`` against Ray Serve's ``ServeDeploySchema`` plus a check that it holds no key
that schema does not know (Serve's schemas drop unknown keys silently). Only
``test_deployed_pipeline_renders_its_deployment`` starts Ray.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

import joey
from joey import DeploymentConfigBuilder
from joey.artifacts import node_cache_dir
from joey.cluster import kuberay
from joey.cluster.kuberay import (
    DEFAULT_IMAGE,
    IMPORT_PATH,
    POD_ENVS_DIR,
    rayservice_manifest,
    serve_config,
    worker_groups,
)
from joey.config import Settings
from joey.deployments.app import plan_app
from joey.errors import PipelineConfigError
from joey.platform.spec_builder import build_spec
from joey.spec import DeploymentSpec, ModelStep, ServeOptions
from joey.testing.onnx_models import mlp

SCHEMA_FILE = Path(__file__).parent / "kuberay" / "rayservice.v1.openapi.json"
IMAGE = "registry.example.com/team/joey-serve:1.2.3"
PATH_KEYS = {"artifact_uri", "log_dir"}
"""The only values that may name a path of the machine that rendered the manifest."""


# -- the checks --------------------------------------------------------------------------


def _json_schema(node: Any) -> Any:
    """A Kubernetes structural schema as JSON Schema: ``nullable`` and ``int-or-string`` in
    JSON Schema's words, fields with a ``default`` not required (the API server fills them),
    and unknown fields refused (``kubectl apply``'s strict field validation)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "required" in out:
        props = node.get("properties", {})
        out["required"] = [r for r in out["required"] if "default" not in props.get(r, {})]
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = _json_schema(json.loads(SCHEMA_FILE.read_text()))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """What the RayService CRD's schema, and KubeRay's own validation, refuse in ``manifest``."""
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in _validator().iter_errors(manifest)]
    if manifest.get("apiVersion") != "ray.io/v1" or manifest.get("kind") != "RayService":
        errors.append("not a ray.io/v1 RayService")
    # ray-operator/controllers/ray/utils/validation.go
    name = manifest.get("metadata", {}).get("name", "")
    if len(name) > 47 or not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        errors.append(f"metadata.name {name!r} is not a DNS-1035 label of at most 47 characters")
    cluster = manifest.get("spec", {}).get("rayClusterConfig", {})
    head = cluster.get("headGroupSpec", {})
    if not head.get("template", {}).get("spec", {}).get("containers"):
        errors.append("the head group has no container")
    if head.get("headService", {}).get("metadata", {}).get("name"):
        errors.append("headService.name must not be set")
    for group in cluster.get("workerGroupSpecs", []):
        if not group.get("template", {}).get("spec", {}).get("containers"):
            errors.append(f"worker group {group.get('groupName')} has no container")
        low, count, high = group.get("minReplicas", 0), group.get("replicas", 0), group.get("maxReplicas", 2**31 - 1)
        if not low <= count <= high:
            errors.append(f"worker group {group.get('groupName')}: not min {low} <= replicas {count} <= max {high}")
    return errors


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation takes directly (through Optional and Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return []


def _containers(annotation: Any, kind: type) -> list[Any]:
    """The ``list[X]`` / ``dict[K, X]`` alternatives of an annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [c for arg in typing.get_args(annotation) for c in _containers(arg, kind)]
    return [annotation] if typing.get_origin(annotation) is kind and typing.get_args(annotation) else []


def unknown_keys(value: dict[str, Any], model: type[BaseModel], path: str = "") -> list[str]:
    """Keys of ``value`` (recursively) that ``model`` does not know: Serve would drop them."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        fields[name] = info.annotation
        if info.alias:
            fields[info.alias] = info.annotation
    found = []
    for key, item in value.items():
        if key not in fields:
            found.append(f"{path}{key}")
        else:
            found += _unknown_in(item, fields[key], f"{path}{key}")
    return found


def _unknown_in(item: Any, annotation: Any, path: str) -> list[str]:
    if isinstance(item, dict):
        models = _models(annotation)
        if models:
            return unknown_keys(item, models[0], f"{path}.")
        for mapping in _containers(annotation, dict):
            return [k for key, sub in item.items()
                    for k in _unknown_in(sub, typing.get_args(mapping)[1], f"{path}.{key}")]
    if isinstance(item, list):
        for sequence in _containers(annotation, list):
            return [k for i, sub in enumerate(item)
                    for k in _unknown_in(sub, typing.get_args(sequence)[0], f"{path}[{i}]")]
    return []


def serve_errors(config: dict[str, Any]) -> list[str]:
    """What Serve refuses in a Serve config, and the keys it would silently drop."""
    from pydantic import ValidationError
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    try:
        ServeDeploySchema.model_validate(config)
    except ValidationError as exc:
        return [str(exc)]
    errors = [f"unknown Serve key {k}" for k in unknown_keys(config, ServeDeploySchema)]
    for app in config["applications"]:
        for deployment in app.get("deployments", []):
            if "autoscaling_config" in deployment:
                AutoscalingConfig.model_validate(deployment["autoscaling_config"])
            runtime_env = deployment.get("ray_actor_options", {}).get("runtime_env", {})
            errors += [f"{deployment['name']}: runtime_env.{k}" for k in runtime_env if k != "env_vars"]
    return errors


def parsed(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's Serve config, checked: ``serveConfigV2`` is YAML that Serve takes whole."""
    text = manifest["spec"]["serveConfigV2"]
    assert isinstance(text, str)
    config = yaml.safe_load(text)
    assert serve_errors(config) == []
    return config  # type: ignore[no-any-return]


def check(manifest: dict[str, Any], spec: DeploymentSpec, image: str = IMAGE) -> dict[str, Any]:
    """Every check a rendered manifest must pass; returns its Serve config."""
    assert crd_errors(manifest) == []
    assert yaml.safe_load(kuberay.dump_yaml(manifest)) == manifest
    config = parsed(manifest)
    [app] = config["applications"]
    assert app["import_path"] == IMPORT_PATH
    assert app["name"] == f"{spec.workspace}-{spec.pipeline}"
    assert app["route_prefix"] == f"/infer/{spec.workspace}/{spec.pipeline}"
    assert DeploymentSpec.from_json(app["args"]["spec"]) == spec
    assert config["http_options"] == {"host": "0.0.0.0", "port": 8000}
    # Every rendered value is what the code sets: deploying the config changes nothing.
    plan = plan_app(spec)
    plans = {p.name: p for p in (plan.ingress, *plan.steps)}
    assert [d["name"] for d in app["deployments"]] == list(plans)
    for deployment in app["deployments"]:
        options = plans[deployment["name"]].options
        for key, value in deployment.items():
            if key != "name":
                assert value == options[key], (deployment["name"], key)
        assert deployment.get("user_config") == options.get("user_config")
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == kuberay.RAY_VERSION
    templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster.get("workerGroupSpecs", []))]
    for template in templates:
        [container] = template["spec"]["containers"]
        assert container["image"] == image
        assert container["env"] == [{"name": "JOEY_ENVS_DIR", "value": POD_ENVS_DIR}]
    return config


def _strings(node: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """Every string in a manifest with the key that holds it, inside its Serve config and its
    spec too."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        if key == "serveConfigV2":
            yield from _strings(yaml.safe_load(node))
        elif key == "spec" and node.startswith("{"):
            yield from _strings(json.loads(node))
        else:
            yield key, node


def assert_portable(manifest: dict[str, Any], settings: Settings) -> None:
    """No path of this machine, except where the artifacts and the log are (which the pods
    must reach: s3:// or a shared volume in production)."""
    home = str(settings.home)
    for key, value in _strings(manifest):
        if home in value:
            assert key in PATH_KEYS, (key, value)
    text = json.dumps(list(_strings(manifest)))
    for banned in ("py_executable", "/.venv/", sys.prefix, sys.executable, str(settings.resolved_envs_dir),
                   str(node_cache_dir()), str(Path.home() / ".joey")):
        assert banned not in text, banned


# -- SDK-built specs ---------------------------------------------------------------------


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> joey.Client:
    """A Client on a fresh JOEY_HOME; nothing here may start Ray."""
    import ray

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("rendering a manifest must not start Ray")

    monkeypatch.setattr(ray, "init", forbidden)
    client = joey.Client(settings=Settings(home=tmp_path / "home"))
    client.set_current_workspace(client.create_workspace("fraud-team"))
    return client


def sdk_spec(client: joey.Client, pipeline: Any, config: Any = None) -> DeploymentSpec:
    """The spec the SDK builds for the pipeline's newest version (what deploy would run)."""
    context = client._context
    [newest, *_] = pipeline.versions()
    workspace = client.get_current_workspace()
    return build_spec(context, workspace.name(), workspace.id(), pipeline.name(), newest.name(),
                      newest.definition()["steps"], config or DeploymentConfigBuilder().build())


def test_single_onnx_model(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"), framework=joey.Framework.ONNX)
    pipeline = offline.build_pipeline("ccfraud-pipe").add_model_step(model)
    pipeline.create_version()

    manifest = pipeline.kuberay_manifest(IMAGE)

    spec = sdk_spec(offline, pipeline)
    config = check(manifest, spec)
    assert_portable(manifest, offline._context.settings)
    assert manifest["metadata"]["name"] == "fraud-team-ccfraud-pipe"
    [deployment] = config["applications"][0]["deployments"]  # the model runs in the ingress
    assert deployment["name"] == "ingress" and deployment["num_replicas"] == 1
    assert deployment["ray_actor_options"]["num_cpus"] == 0.1
    assert deployment["user_config"] == spec.live_config()
    cluster = manifest["spec"]["rayClusterConfig"]
    assert "enableInTreeAutoscaling" not in cluster
    assert cluster["headGroupSpec"]["rayStartParams"] == {"dashboard-host": "0.0.0.0", "num-cpus": "0"}
    [group] = cluster["workerGroupSpecs"]
    assert (group["groupName"], group["minReplicas"], group["replicas"], group["maxReplicas"]) == ("cpu", 1, 1, 1)
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    # The default image is Ray's own (joey must be installed on it).
    default = pipeline.kuberay_manifest()
    check(default, spec, DEFAULT_IMAGE)
    assert f"rayproject/ray:{kuberay.RAY_VERSION}-py311" == DEFAULT_IMAGE


def test_chain_with_an_ab_split(offline: joey.Client, tmp_path: Path) -> None:
    features = offline.upload_model("features", mlp(tmp_path / "f.onnx", n_out=4, output_name="features"))
    champion = offline.upload_model("champion", mlp(tmp_path / "a.onnx", n_in=4, input_name="features",
                                                    output_name="score", seed=1))
    challenger = offline.upload_model("challenger", mlp(tmp_path / "b.onnx", n_in=4, input_name="features",
                                                        output_name="score", seed=2))
    pipeline = (offline.build_pipeline("ab-pipe").add_model_step(features)
                .add_random_split([(0.75, champion), (0.25, challenger)], hash_key="id"))
    pipeline.create_version()
    separate = DeploymentConfigBuilder().fuse_steps(False).replica_count(2).cpus(0.25).memory("1Gi").build()

    manifest = pipeline.kuberay_manifest(IMAGE, deployment_config=separate)

    spec = sdk_spec(offline, pipeline, separate)
    config = check(manifest, spec)
    assert_portable(manifest, offline._context.settings)
    deployments = {d["name"]: d for d in config["applications"][0]["deployments"]}
    assert set(deployments) == {"ingress", "step-0-features", "step-1-0-champion", "step-1-1-challenger"}
    assert deployments["ingress"]["user_config"]["weights"] == [None, [0.75, 0.25]]
    assert deployments["ingress"]["ray_actor_options"]["num_cpus"] == 0
    for name in ("step-0-features", "step-1-0-champion", "step-1-1-challenger"):
        assert deployments[name]["num_replicas"] == 2
        assert deployments[name]["ray_actor_options"]["num_cpus"] == 0.25
        assert deployments[name]["ray_actor_options"]["memory"] == 2**30
    # 6 replicas of 0.25 CPU and 1 GiB: pods of 1 CPU and 2 GiB (1.4 GiB reservable) hold one each.
    [group] = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (6, 6, 6)
    # With the default config every model runs in the ingress: one deployment.
    fused = pipeline.kuberay_manifest(IMAGE)
    config = check(fused, sdk_spec(offline, pipeline))
    assert [d["name"] for d in config["applications"][0]["deployments"]] == ["ingress"]


def test_gpu_step_with_autoscaling(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("vision", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("gpu-pipe").add_model_step(model)
    pipeline.create_version()
    gpu = DeploymentConfigBuilder().replica_autoscale_min_max(3, 0).cpus(0.5).gpus(1).build()

    manifest = pipeline.kuberay_manifest(IMAGE, deployment_config=gpu)

    spec = sdk_spec(offline, pipeline, gpu)
    config = check(manifest, spec)
    assert_portable(manifest, offline._context.settings)
    [deployment] = config["applications"][0]["deployments"]
    assert "num_replicas" not in deployment
    assert deployment["autoscaling_config"] == {"min_replicas": 0, "max_replicas": 3, "initial_replicas": 1,
                                                "target_ongoing_requests": 2}
    assert deployment["ray_actor_options"] == {
        "num_cpus": 0.5, "num_gpus": 1, "runtime_env": {"env_vars": spec.replica_env}}
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    [group] = cluster["workerGroupSpecs"]
    assert group["groupName"] == "gpu"
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (0, 1, 3)
    resources = group["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert resources["requests"] == resources["limits"]


def test_only_saved_versions_render(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("draft-pipe").add_model_step(model)
    with pytest.raises(PipelineConfigError, match=r"create_version\(\) or deploy\(\) first"):
        pipeline.kuberay_manifest()
    saved = pipeline.create_version()
    pipeline.add_model_step(model)  # unsaved: the manifest serves the saved version
    manifest = pipeline.kuberay_manifest(IMAGE)
    spec = DeploymentSpec.from_json(parsed(manifest)["applications"][0]["args"]["spec"])
    assert spec.pipeline_version == saved.name() and len(spec.steps) == 1
    # A pipeline fetched afresh renders the same.
    again = offline.build_pipeline("draft-pipe").kuberay_manifest(IMAGE)
    assert again == manifest


def test_the_last_deploys_config_is_kept(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("kept-pipe").add_model_step(model)
    first = pipeline.create_version()
    config = DeploymentConfigBuilder().replica_count(3).cpus(2).build()
    # What deploy() records (test_deployed_pipeline_renders_its_deployment deploys for real).
    store = offline._context.store
    store.record_deployment(pipeline.id(), store.get_pipeline_version(pipeline.id(), first.name()).id,
                            config.model_dump(mode="json"), "{}", "Running")
    second = pipeline.create_version()  # the same steps, a newer version

    manifest = pipeline.kuberay_manifest(IMAGE)

    spec = sdk_spec(offline, pipeline, config)
    assert spec.pipeline_version == second.name()
    served = check(manifest, spec)
    [deployment] = served["applications"][0]["deployments"]
    assert deployment["num_replicas"] == 3 and deployment["ray_actor_options"]["num_cpus"] == 2
    [group] = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (3, 3, 3)


@pytest.mark.ray
def test_deployed_pipeline_renders_its_deployment(client: joey.Client, tmp_path: Path) -> None:
    model = client.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    pipeline = client.build_pipeline("deployed-pipe").add_model_step(model)
    pipeline.deploy(deployment_config=DeploymentConfigBuilder().cpus(0.25).build())
    try:
        manifest = pipeline.kuberay_manifest(IMAGE)
        deployed = client._context.store.active_deployment(pipeline.id())
        assert deployed is not None
        config = check(manifest, DeploymentSpec.from_json(deployed.spec_json))
        assert config["applications"][0]["deployments"][0]["ray_actor_options"]["num_cpus"] == 0.25
        assert_portable(manifest, client._context.settings)
    finally:
        pipeline.undeploy()


# -- hand-edited specs: what the SDK's ONNX models do not reach ------------------------


def _with_options(spec: DeploymentSpec, **changes: Any) -> DeploymentSpec:
    """``spec`` with its steps' models given ``changes`` (``environment``) or options."""
    steps = []
    for step in spec.steps:
        assert isinstance(step, ModelStep)
        model = step.model.model_copy(update={k: v for k, v in changes.items() if k == "environment"})
        options = changes.get("options", step.options)
        steps.append(step.model_copy(update={"model": model, "options": options, "in_ingress": False}))
    return DeploymentSpec.model_validate({**spec.model_dump(), "steps": [s.model_dump() for s in steps]})


def test_isolated_step_keeps_its_python_in_the_code(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("byop", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("env-pipe").add_model_step(model)
    pipeline.create_version()
    spec = _with_options(sdk_spec(offline, pipeline, DeploymentConfigBuilder().fuse_steps(False).build()),
                         environment=("scikit-learn==1.5.2",))

    manifest = rayservice_manifest(spec, image=IMAGE)

    config = check(manifest, spec)
    assert_portable(manifest, offline._context.settings)
    deployments = {d["name"]: d for d in config["applications"][0]["deployments"]}
    # A config's ray_actor_options would replace build_app's (and its py_executable) whole.
    assert "ray_actor_options" not in deployments["step-0-byop"]
    assert deployments["step-0-byop"]["num_replicas"] == 1
    # Its resources still size the workers.
    [group] = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert group["replicas"] == 1


def _two_steps(offline: joey.Client, tmp_path: Path, name: str) -> Any:
    first = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    second = offline.upload_model("second", mlp(tmp_path / "s.onnx", n_in=1, input_name="dense_1",
                                                output_name="score"))
    pipeline = offline.build_pipeline(name).add_model_step(first).add_model_step(second)
    pipeline.create_version()
    return pipeline


def test_a_deployment_label_gets_labelled_workers(offline: joey.Client, tmp_path: Path) -> None:
    pipeline = _two_steps(offline, tmp_path, "zoned-pipe")
    zoned = (DeploymentConfigBuilder().fuse_steps(False).deployment_label("zone:a")
             .replica_autoscale_min_max(2, 1).cpus(1.5).memory("3Gi").build())

    manifest = pipeline.kuberay_manifest(IMAGE, deployment_config=zoned)

    config = check(manifest, sdk_spec(offline, pipeline, zoned))
    steps = [d for d in config["applications"][0]["deployments"] if d["name"] != "ingress"]
    assert [d["ray_actor_options"]["label_selector"] for d in steps] == [{"zone": "a"}, {"zone": "a"}]
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["autoscalerOptions"] == {"version": "v2"}
    # The ingress reserves nothing (the head takes it); two steps of 1.5 CPUs and 3 GiB, 1 to 2
    # replicas each (1 at first): pods of 2 CPUs and 5 GiB (3.5 GiB reservable), one replica each.
    [group] = cluster["workerGroupSpecs"]
    assert group["groupName"] == "cpu-zone-a" and group["labels"] == {"zone": "a"}
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (2, 2, 4)
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "5Gi"}


def test_worker_groups_pack_mixed_reservations(offline: joey.Client, tmp_path: Path) -> None:
    spec = sdk_spec(offline, _two_steps(offline, tmp_path, "mixed-pipe"),
                    DeploymentConfigBuilder().fuse_steps(False).build())
    steps = (
        spec.steps[0].model_copy(update={"options": ServeOptions(
            num_replicas=3, ray_actor_options={"num_cpus": 0.5, "memory": 2**29})}),
        spec.steps[1].model_copy(update={"options": ServeOptions(
            num_replicas=None, autoscaling_config={"min_replicas": 1, "max_replicas": 4},
            ray_actor_options={"num_cpus": 4, "num_gpus": 2, "resources": {"tensorcore": 1}})}),
    )
    spec = spec.model_copy(update={"steps": steps})

    manifest = rayservice_manifest(spec, image=IMAGE)

    check(manifest, spec)
    cpu, gpu = worker_groups(plan_app(spec))
    # Three replicas of half a CPU and 512 MiB: pods of 1 CPU and 2 GiB hold two each.
    assert (cpu.name, cpu.cpus, cpu.memory, cpu.min_pods, cpu.pods, cpu.max_pods) == ("cpu", 1, 2 * 2**30, 2, 2, 2)
    assert (gpu.name, gpu.cpus, gpu.gpus, gpu.min_pods, gpu.pods, gpu.max_pods) == ("gpu", 4, 2, 1, 1, 4)
    assert gpu.resources == (("tensorcore", 1.0),) and cpu.resources == ()
    groups = {g["groupName"]: g for g in manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    # KubeRay's form for --resources: the JSON as one quoted, escaped string.
    advertised = groups["gpu"]["rayStartParams"]["resources"]
    assert advertised == '"{\\"tensorcore\\": 1}"'
    assert json.loads(advertised[1:-1].replace('\\"', '"')) == {"tensorcore": 1}
    assert groups["cpu"]["rayStartParams"] == {}
    assert groups["gpu"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "2"}
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True and "autoscalerOptions" not in cluster
    unplain = spec.model_copy(update={"steps": (steps[0].model_copy(update={"options": ServeOptions(
        ray_actor_options={"num_cpus": 1, "label_selector": {"zone": "!a"}})}), steps[1])})
    with pytest.raises(ValueError, match="not a plain label value"):
        rayservice_manifest(unplain, image=IMAGE)


# -- names, versions, the local config -----------------------------------------------------


def test_names(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("p" + "x" * 50).add_model_step(model)
    pipeline.create_version()
    spec = sdk_spec(offline, pipeline)
    name = kuberay.resource_name(spec)
    assert len(name) == 47 and name.startswith("fraud-team-pxxx")
    check(rayservice_manifest(spec, image=IMAGE), spec)
    assert rayservice_manifest(spec, image=IMAGE, name="serving")["metadata"]["name"] == "serving"
    for bad in ("Serving", "9lives", "x" * 48, "trailing-"):
        with pytest.raises(ValueError, match="DNS-1035"):
            rayservice_manifest(spec, image=IMAGE, name=bad)
    digits = spec.model_copy(update={"workspace": "42"})
    assert kuberay.resource_name(digits).startswith("joey-42-")


def test_ray_version_is_joeys() -> None:
    assert version("ray") == kuberay.RAY_VERSION


def test_local_serve_config(offline: joey.Client, tmp_path: Path) -> None:
    """What ``serve deploy`` takes on a local head (the lead's end-to-end test deploys it)."""
    model = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("local-pipe").add_model_step(model)
    pipeline.create_version()
    spec = sdk_spec(offline, pipeline)
    config = serve_config(spec, http_host="127.0.0.1", http_port=8123)
    assert config["http_options"] == {"host": "127.0.0.1", "port": 8123}
    assert serve_errors(config) == []
    assert yaml.safe_load(kuberay.serve_config_yaml(spec, http_host="127.0.0.1", http_port=8123)) == config


# -- the checks accept KubeRay's own sample, and can fail ------------------------------------


def test_the_checks_accept_kuberays_sample() -> None:
    sample = yaml.safe_load((SCHEMA_FILE.parent / "ray-service.sample.yaml").read_text())
    assert crd_errors(sample) == []
    assert serve_errors(yaml.safe_load(sample["spec"]["serveConfigV2"])) == []


@pytest.fixture
def rendered(offline: joey.Client, tmp_path: Path) -> tuple[dict[str, Any], DeploymentSpec]:
    model = offline.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    pipeline = offline.build_pipeline("broken-pipe").add_model_step(model)
    pipeline.create_version()
    spec = sdk_spec(offline, pipeline, DeploymentConfigBuilder().replica_autoscale_min_max(2, 1).build())
    manifest = rayservice_manifest(spec, image=IMAGE)
    check(manifest, spec)
    return manifest, spec


def test_broken_manifests_fail_the_checks(rendered: tuple[dict[str, Any], DeploymentSpec]) -> None:
    manifest, _ = rendered

    def broken(edit: Any) -> dict[str, Any]:
        copy = json.loads(json.dumps(manifest))
        edit(copy)
        return copy

    as_dict = broken(lambda m: m["spec"].update(serveConfigV2=yaml.safe_load(m["spec"]["serveConfigV2"])))
    assert any("serveConfigV2" in e and "is not of type 'string'" in e for e in crd_errors(as_dict))
    typo = broken(lambda m: m["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].update(minReplica=1))
    assert any("'minReplica' was unexpected" in e for e in crd_errors(typo))
    quantity = broken(lambda m: m["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
                      ["containers"][0]["resources"]["limits"].update(cpu="one"))
    assert any("does not match" in e for e in crd_errors(quantity))
    long_name = broken(lambda m: m["metadata"].update(name="x" * 48))
    assert any("DNS-1035" in e for e in crd_errors(long_name))
    inverted = broken(lambda m: m["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].update(minReplicas=9))
    assert any("not min 9" in e for e in crd_errors(inverted))


def test_unknown_serve_keys_fail_the_checks(rendered: tuple[dict[str, Any], DeploymentSpec]) -> None:
    from ray.serve.schema import ServeDeploySchema

    manifest, _ = rendered
    config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    deployment = config["applications"][0]["deployments"][0]
    deployment["num_replica"] = 2  # a typo Serve drops silently
    deployment["ray_actor_options"]["num_cpu"] = 4
    deployment["autoscaling_config"]["max_replica"] = 9
    config["applications"][0]["route_prefx"] = "/elsewhere"
    ServeDeploySchema.model_validate(config)  # Serve takes it...
    assert sorted(serve_errors(config)) == sorted([  # ...and the check does not.
        "unknown Serve key applications[0].route_prefx",
        "unknown Serve key applications[0].deployments[0].num_replica",
        "unknown Serve key applications[0].deployments[0].ray_actor_options.num_cpu",
        "unknown Serve key applications[0].deployments[0].autoscaling_config.max_replica",
    ])
    wrong_type = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    wrong_type["applications"][0]["deployments"][0]["max_ongoing_requests"] = "many"
    assert serve_errors(wrong_type) != []
    machine = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    machine["applications"][0]["deployments"][0]["ray_actor_options"]["runtime_env"]["py_executable"] = "/x"
    assert serve_errors(machine) == ["ingress: runtime_env.py_executable"]


def test_portability_check_fails_on_a_local_path(rendered: tuple[dict[str, Any], DeploymentSpec],
                                                 offline: joey.Client) -> None:
    manifest, spec = rendered
    settings = offline._context.settings
    assert_portable(manifest, settings)
    local = spec.model_copy(update={"cache_dir": str(settings.home / "cache")})
    with pytest.raises(AssertionError):
        assert_portable(rayservice_manifest(local, image=IMAGE), settings)


def test_options_the_config_cannot_render_fail(rendered: tuple[dict[str, Any], DeploymentSpec]) -> None:
    _, spec = rendered
    py = ServeOptions(ray_actor_options={"num_cpus": 1, "runtime_env": {"py_executable": "/opt/env/bin/python"}})
    with pytest.raises(ValueError, match=r"runtime_env\.py_executable"):
        serve_config(spec.model_copy(update={"ingress_options": py}))
