"""``joey models``: upload and list models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from joey.cli._common import (
    JoeyGroup,
    client,
    emit,
    output_options,
    settings,
    use_workspace,
    workspace_option,
)
from joey.cli.files import read_schema
from joey.framework import Framework

_SCHEMA_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group(cls=JoeyGroup)
def models() -> None:
    """Upload and list models."""


@models.command()
@click.argument("name")
@click.argument("file")
@click.option("--framework", "-f", type=click.Choice([f.value for f in Framework], case_sensitive=False),
              metavar="FRAMEWORK",
              help="The model's framework: onnx, tensorflow, python, keras, sklearn, pytorch, xgboost, "
                   "custom, mlflow or hugging-face-<task> (default: from the file, e.g. `.onnx`).")
@click.option("--input-schema", type=_SCHEMA_FILE, metavar="ARROW_FILE",
              help="Arrow IPC file or stream whose schema is the model's input schema.")
@click.option("--output-schema", type=_SCHEMA_FILE, metavar="ARROW_FILE",
              help="Arrow IPC file or stream whose schema is the model's output schema.")
@workspace_option
@output_options
def upload(name: str, file: str, framework: str | None, input_schema: Path | None,
           output_schema: Path | None, workspace: str | None, as_json: bool) -> None:
    """Upload FILE as a new version of model NAME.

    FILE is a model file or folder (or an MLflow `models:/` URI). ONNX and TensorFlow
    models carry their schemas, MLflow models and Hugging Face tasks have defaults; the
    others (sklearn, XGBoost, PyTorch, Keras, Python steps, BYOP) need `--input-schema` and
    `--output-schema`, each an Arrow IPC file or stream (no rows needed) whose schema is
    used, e.g. written with `pyarrow.ipc.new_file(path, schema).close()`. The workspace
    is created if missing.
    """
    inputs = read_schema(input_schema) if input_schema else None
    outputs = read_schema(output_schema) if output_schema else None
    sdk = client(settings(), as_json)
    workspace_name = use_workspace(sdk, workspace, create=True)
    version = sdk.upload_model(name, file, framework=framework, input_schema=inputs,
                               output_schema=outputs)
    data = {"workspace": workspace_name, "name": version.name(), "version": version.version(),
            "sha": version.sha(), "framework": version.framework(),
            "runtime": version.config().runtime(), "status": version.status()}
    emit(as_json, data, lambda: (f"model {workspace_name}/{data['name']} version {data['version']}: "
                                 f"framework {data['framework']}, runtime {data['runtime']}"))


@models.command("list")
@workspace_option
@output_options
def list_models(workspace: str | None, as_json: bool) -> None:
    """The workspace's models and their versions."""
    sdk = client(settings(), as_json)
    workspace_name = use_workspace(sdk, workspace)
    rows: list[dict[str, Any]] = []
    for model in sdk.list_models(workspace_name=workspace_name):
        versions = model.versions()
        rows.append({"name": model.name(), "versions": [v.version() for v in versions],
                     "runtime": versions[0].config().runtime() if versions else None,  # newest first
                     "last_update_time": model.last_update_time()})

    def text() -> str:
        if not rows:
            return f"no models in workspace {workspace_name!r}"
        return "\n".join(f"{r['name']}  {len(r['versions'])} version(s)  runtime {r['runtime']}"
                         for r in rows)

    emit(as_json, {"workspace": workspace_name, "models": rows}, text)
