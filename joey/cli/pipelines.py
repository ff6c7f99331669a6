"""``joey pipelines``, ``joey infer``, ``joey logs`` and ``joey kuberay``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from joey.cli._common import (
    JoeyGroup,
    client,
    echo,
    emit,
    get_pipeline,
    output_options,
    settings,
    split_pipeline,
    use_workspace,
    workspace_option,
)
from joey.cli.files import read_table, records, write_table
from joey.cli.head import available_ray, ray_settings
from joey.errors import PipelineConfigError

if TYPE_CHECKING:
    from joey.platform.pipeline import Pipeline

_PIPELINE = click.argument("pipeline", metavar="[WORKSPACE/]PIPELINE")
_OUTPUT_TABLE = click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows to this file (.json records, .arrow or .parquet) instead of stdout.")


def _status_text(workspace: str, name: str, status: dict[str, Any]) -> str:
    lines = [f"{workspace}/{name}: {status['status']}"]
    lines += [f"  {detail}" for detail in status.get("details", [])]
    for deployment in status.get("deployments", []):
        replicas = ", ".join(f"{k} {v}" for k, v in deployment.get("replicas", {}).items())
        lines.append(f"  {deployment['name']}: {deployment['status']} ({replicas or 'no replicas'})")
    return "\n".join(lines)


def _latest_version(pipeline: Pipeline) -> str | None:
    versions = pipeline.versions()  # newest first
    return versions[0].name() if versions else None


@click.group(cls=JoeyGroup)
def pipelines() -> None:
    """Deploy, undeploy and inspect pipelines (deploy/undeploy/status need Ray)."""


@pipelines.command()
@_PIPELINE
@click.option("--model", "-m", "model_names", multiple=True, metavar="NAME[:VERSION]",
              help="A model step, in order (repeat for a chain); replaces the pipeline's steps. "
                   "Default: deploy the pipeline's latest steps.")
@click.option("--replicas", type=click.IntRange(min=1), help="Replicas of each step.")
@click.option("--cpus", type=click.FloatRange(min=0, min_open=True), help="CPUs per step replica.")
@click.option("--gpus", type=click.IntRange(min=0), help="GPUs per step replica.")
@workspace_option
@output_options
def deploy(pipeline: str, model_names: tuple[str, ...], replicas: int | None, cpus: float | None,
           gpus: int | None, workspace: str | None, as_json: bool) -> None:
    """Deploy PIPELINE (with `--model`, first make those models its steps); wait until it
    serves and print its status."""
    from joey.autoscaling import DeploymentConfigBuilder

    workspace, name = split_pipeline(pipeline, workspace)
    config = settings()
    sdk = client(available_ray(config) or config, as_json)
    builder = DeploymentConfigBuilder()
    if replicas is not None:
        builder = builder.replica_count(replicas)
    if cpus is not None:
        builder = builder.cpus(cpus)
    if gpus is not None:
        builder = builder.gpus(gpus)
    if model_names:
        workspace_name = use_workspace(sdk, workspace)
        versions = []
        for spec in model_names:
            model, _, version = spec.partition(":")
            versions.append(sdk.get_model(model, version or None))
        ray_settings(config)  # a Ray to join (else why not) before the pipeline changes
        target = sdk.build_pipeline(name).clear()
        for version_ in versions:
            target.add_model_step(version_)
    else:
        workspace_name, target = get_pipeline(sdk, workspace, name)
        if not target.steps():
            raise PipelineConfigError(f"pipeline {workspace_name}/{name} has no steps: name its "
                                      "models with --model")
        ray_settings(config)
    target.deploy(deployment_config=builder.build())
    status = target.status()
    data = {"workspace": workspace_name, "pipeline": name, "version": _latest_version(target),
            "url": target.url(), **status}
    emit(as_json, data, lambda: f"{_status_text(workspace_name, name, status)}\nURL {target.url()}")


@pipelines.command()
@_PIPELINE
@workspace_option
@output_options
def undeploy(pipeline: str, workspace: str | None, as_json: bool) -> None:
    """Stop serving PIPELINE (it and its versions stay)."""
    workspace, name = split_pipeline(pipeline, workspace)
    config = settings()
    sdk = client(available_ray(config) or config, as_json)
    workspace_name, target = get_pipeline(sdk, workspace, name)
    ray_settings(config)
    target.undeploy()
    emit(as_json, {"workspace": workspace_name, "pipeline": name, "status": "Unavailable"},
         f"{workspace_name}/{name}: undeployed")


@pipelines.command()
@_PIPELINE
@workspace_option
@output_options
def status(pipeline: str, workspace: str | None, as_json: bool) -> None:
    """PIPELINE's status: Starting, Running, Error or Unavailable (not deployed).

    Needs Ray only for a deployed pipeline."""
    workspace, name = split_pipeline(pipeline, workspace)
    config = settings()
    sdk = client(available_ray(config) or config, as_json)
    workspace_name, target = get_pipeline(sdk, workspace, name)
    if target.table_row()["deployed"]:
        ray_settings(config)
    state = target.status()
    emit(as_json, {"workspace": workspace_name, "pipeline": name, **state},
         lambda: _status_text(workspace_name, name, state))


@pipelines.command("list")
@workspace_option
@output_options
def list_pipelines(workspace: str | None, as_json: bool) -> None:
    """The workspace's pipelines, with their status (`Unknown` for a deployed one when no Ray
    is reachable)."""
    config = settings()
    ray = available_ray(config)
    sdk = client(ray or config, as_json)
    workspace_name = use_workspace(sdk, workspace)
    rows: list[dict[str, Any]] = []
    for target in sdk.list_pipelines(workspace_name=workspace_name):
        row = target.table_row()
        state = ("Unavailable" if not row["deployed"] else
                 target.status()["status"] if ray is not None else "Unknown")
        rows.append({"name": row["name"], "status": state, "deployed": row["deployed"],
                     "version": row["versions"][0] if row["versions"] else None,
                     "versions": len(row["versions"]), "steps": row["steps"],
                     "last_updated": row["last_updated"]})

    def text() -> str:
        if not rows:
            return f"no pipelines in workspace {workspace_name!r}"
        return "\n".join(f"{r['name']}  {r['status']}  steps: {', '.join(r['steps']) or '-'}"
                         for r in rows)

    emit(as_json, {"workspace": workspace_name, "pipelines": rows}, text)


# -- inference and the log ------------------------------------------------------------------


@click.command()
@_PIPELINE
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_OUTPUT_TABLE
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Inference timeout (default JOEY_REQUEST_TIMEOUT_S, 15 s).")
@workspace_option
@output_options
def infer(pipeline: str, file: Path, output: Path | None, timeout: float | None,
          workspace: str | None, as_json: bool) -> None:
    """Run FILE's rows through the deployed PIPELINE; print the result as JSON records.

    FILE is JSON records (`.json`: an array of row objects, as the HTTP API takes), an Arrow
    IPC file or stream (`.arrow`) or Parquet (`.parquet`).
    """
    workspace, name = split_pipeline(pipeline, workspace)
    table = read_table(file)
    config = settings()
    sdk = client(available_ray(config) or config, as_json)
    _, target = get_pipeline(sdk, workspace, name)
    ray_settings(config)
    result = target.infer(table, timeout=timeout)
    _print_rows(result, output, as_json)


@click.command()
@_PIPELINE
@click.option("--limit", type=click.IntRange(min=1), help="Newest rows to show (default 100).")
@_OUTPUT_TABLE
@workspace_option
@output_options
def logs(pipeline: str, limit: int | None, output: Path | None, workspace: str | None,
         as_json: bool) -> None:
    """PIPELINE's inference log, newest first, as JSON records (needs no Ray)."""
    workspace, name = split_pipeline(pipeline, workspace)
    sdk = client(settings(), as_json)
    _, target = get_pipeline(sdk, workspace, name)
    _print_rows(target.logs(limit=limit, arrow=True), output, as_json)


def _print_rows(table: Any, output: Path | None, as_json: bool) -> None:
    if output is None:
        echo(records(table))
        return
    write_table(table, output)
    emit(as_json, {"rows": table.num_rows, "output": output}, f"wrote {table.num_rows} rows to {output}")


# -- KubeRay --------------------------------------------------------------------------------


@click.group(cls=JoeyGroup)
def kuberay() -> None:
    """Kubernetes manifests (KubeRay) for pipelines."""


@kuberay.command()
@_PIPELINE
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the manifest to this file instead of stdout.")
@click.option("--image", metavar="IMAGE", help="Container image of the Ray pods (default: the SDK's).")
@workspace_option
@output_options
def render(pipeline: str, output: Path | None, image: str | None, workspace: str | None,
           as_json: bool) -> None:
    """Write PIPELINE's KubeRay RayService manifest as YAML (with `--json` and no `-o`: as JSON)."""
    from joey.cluster.kuberay import dump_yaml

    workspace, name = split_pipeline(pipeline, workspace)
    sdk = client(settings(), as_json)
    workspace_name, target = get_pipeline(sdk, workspace, name)
    manifest = target.kuberay_manifest(image=image)
    text = dump_yaml(manifest)
    if output is None:
        emit(as_json, manifest, text.rstrip("\n"))
        return
    output.write_text(text)
    emit(as_json, {"workspace": workspace_name, "pipeline": name, "output": output,
                   "kind": manifest.get("kind")}, f"wrote {output}")
