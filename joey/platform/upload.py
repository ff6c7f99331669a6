"""Upload: pick the framework, prove a runtime can load the file, convert to ONNX where it
is proven equal, store the artifact, record the version."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from joey.errors import FrameworkNotInstalledError, ModelUploadError
from joey.framework import Framework
from joey.platform.context import Context
from joey.platform.store import ModelVersionRow
from joey.runtimes import runtime_class
from joey.spec import TensorField

_BY_SUFFIX = {
    ".onnx": Framework.ONNX, ".py": Framework.PYTHON, ".h5": Framework.KERAS,
    ".keras": Framework.KERAS, ".pt": Framework.PYTORCH, ".pth": Framework.PYTORCH,
}
CONVERTIBLE = (Framework.SKLEARN, Framework.XGBOOST, Framework.PYTORCH, Framework.KERAS)
# frameworks whose file declares its own signature: framework -> native runtime
SELF_DESCRIBING = {Framework.ONNX: "onnx", Framework.TENSORFLOW: "tensorflow"}
CONVERT_SELF_DESCRIBING = (Framework.TENSORFLOW,)
# frameworks that run as they are: (runtime string, registry key)
AS_IS = {Framework.CUSTOM: ("flight", "flight-custom"), Framework.PYTHON: ("python", "python")}


def resolve_framework(path: Path, framework: Framework | str | None) -> Framework:
    """The given framework, or the one the file suffix names; else an error listing choices."""
    if framework is not None:
        try:
            return Framework(framework)
        except ValueError:
            choices = ", ".join(f.value for f in Framework)
            raise ModelUploadError(f"unknown framework {framework!r}; choose one of {choices}") from None
    found = _BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        choices = ", ".join(f"Framework.{f.name}" for f in Framework)
        raise ModelUploadError(
            f"cannot tell the framework of {path.name!r} from its name; pass framework= one of {choices}"
        )
    return found


class _Progress:
    """The upload log, printed as it grows (the way Wallaroo's upload shows progress)."""

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.lines: list[str] = []
        self._echo = echo

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self._echo(line)


def _load(runtime_name: str, path: Path, raw_config: dict[str, Any] | None) -> Any:
    cls = runtime_class(runtime_name)
    runtime = cls()
    try:
        runtime.load(path, cls.parse_config(raw_config))
    except FrameworkNotInstalledError:
        raise
    except Exception as exc:
        raise ModelUploadError(f"{runtime_name} cannot load {path.name!r}: {type(exc).__name__}: {exc}") from exc
    return runtime


def _dump(fields: tuple[TensorField, ...]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in fields]


def upload(
    context: Context,
    workspace_id: int,
    name: str,
    path: Path,
    framework: Framework | str | None,
    input_schema: pa.Schema | None,
    output_schema: pa.Schema | None,
) -> ModelVersionRow:
    """Store ``path`` as a new version of model ``name`` once a runtime has loaded it."""
    if not path.is_file():
        raise ModelUploadError(f"no model file at {str(path)!r}")
    chosen = resolve_framework(path, framework)
    progress = _Progress(context.echo)
    progress("Waiting for model loading - this will take up to 10min.")
    if chosen in SELF_DESCRIBING:
        runtime_name = SELF_DESCRIBING[chosen]
        progress("Model is pending loading to a native runtime.")
        runtime = _load(runtime_name, path, None)
        inputs, outputs = runtime.signature()
        conversion: dict[str, Any] = {}
        if chosen in CONVERT_SELF_DESCRIBING:
            from joey.runtimes.convert import try_convert

            with tempfile.TemporaryDirectory() as scratch:
                converted = Path(scratch) / f"{path.stem}.onnx"
                record = try_convert(chosen.value, path, runtime, None, inputs, outputs, converted)
                runtime.close()
                conversion["conversion"] = record.to_dict()
                if record.kept:
                    progress(f"Model is attempting loading to a native runtime..successful "
                             f"(ONNX by {record.tried}, {record.inputs_compared} generated rows, "
                             f"max abs diff {record.max_abs_diff:.3g})")
                    progress("Ready")
                    return _record(context, workspace_id, name, path, converted, chosen, "onnx",
                                   inputs, outputs, conversion, progress)
        runtime.close()
        progress("Model is attempting loading to a native runtime..successful")
        progress("Ready")
        return _record(context, workspace_id, name, path, path, chosen, runtime_name, inputs, outputs,
                       conversion, progress)
    if chosen not in CONVERTIBLE and chosen not in AS_IS:
        supported = ", ".join(f.value for f in (*SELF_DESCRIBING, *CONVERTIBLE, *AS_IS))
        raise ModelUploadError(f"framework {chosen.value!r} is not supported yet; supported: {supported}")
    if input_schema is None or output_schema is None:
        raise ModelUploadError(
            f"framework {chosen.value!r} needs input_schema and output_schema (pyarrow schemas)"
        )
    from joey.runtimes.convert import try_convert
    from joey.runtimes.schema import fields_from_schema

    inputs = fields_from_schema(input_schema, optional=chosen is Framework.CUSTOM)
    outputs = fields_from_schema(output_schema)
    schema_config = {"inputs": _dump(inputs), "outputs": _dump(outputs)}
    if chosen in AS_IS:
        return _upload_code(context, workspace_id, name, path, chosen, inputs, outputs, schema_config, progress)
    original = _load(f"flight-{chosen.value}", path, schema_config)
    for line in getattr(original, "load_log", []):
        progress(line)
    progress("Model is pending loading to a native runtime..")
    with tempfile.TemporaryDirectory() as scratch:
        converted = Path(scratch) / f"{path.stem}.onnx"
        record = try_convert(chosen.value, path, original, getattr(original, "model", None),
                             inputs, outputs, converted)
        original.close()
        config: dict[str, Any] = {"conversion": record.to_dict()}
        if record.kept:
            progress(f"Model is attempting loading to a native runtime..successful "
                     f"({record.tried}, {record.inputs_compared} generated rows, "
                     f"max abs diff {record.max_abs_diff:.3g})")
            progress("Ready")
            return _record(context, workspace_id, name, path, converted, chosen, "onnx",
                           inputs, outputs, config, progress)
    progress(f"Model is attempting loading to a native runtime..incompatible ({record.detail})")
    progress("Model is pending loading to a container runtime..")
    progress("Model is attempting loading to a container runtime..successful")
    progress("Ready")
    config["runtime_config"] = schema_config
    return _record(context, workspace_id, name, path, path, chosen, "flight", inputs, outputs, config, progress)


def _upload_code(context: Context, workspace_id: int, name: str, path: Path, framework: Framework,
                 inputs: tuple[TensorField, ...], outputs: tuple[TensorField, ...],
                 schema_config: dict[str, Any], progress: _Progress) -> ModelVersionRow:
    """BYOP and Python steps: validate the code; a broken rule is recorded and raised."""
    runtime_name, key = AS_IS[framework]
    progress("Model is pending loading to a container runtime..")
    config: dict[str, Any] = {"runtime_config": schema_config}
    try:
        requirements = _requirements(path)
        if requirements is None:
            requirements = []
            if framework is Framework.CUSTOM:
                progress(f"Warning: no requirements.txt in {path.name}; treated as empty "
                         "(Wallaroo requires one, even empty)")
        if requirements:
            from joey.platform.environments import check_in_environment, ensure_environment

            python = ensure_environment(requirements, context.settings.home / "envs", progress)
            check_in_environment(python, key, path, json.dumps(schema_config))
            config["requirements"] = requirements
        else:
            _load(key, path, schema_config).close()
    except ModelUploadError as exc:
        progress(f"stdout F custom model validation failed: {exc}")
        row = _record(context, workspace_id, name, path, path, framework, runtime_name, inputs, outputs,
                      config, progress, status="error")
        raise ModelUploadError(
            f"{exc} (model {name!r} version {row.version} recorded with status 'error'; "
            "get_upload_logs() shows the log)"
        ) from exc
    progress("Model is attempting loading to a container runtime..successful")
    progress("Ready")
    return _record(context, workspace_id, name, path, path, framework, runtime_name, inputs, outputs,
                   config, progress)


def _requirements(path: Path) -> list[str] | None:
    """The requirements.txt of the zip's model folder, parsed; ``None`` when a zip has none.

    Only the model folder's own file counts (the zip's root, or its one folder), never one
    nested deeper. A file that is not a zip has no requirements.
    """
    import zipfile

    from joey.platform.environments import parse_requirements
    from joey.runtimes.byop import model_root

    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        name = model_root(archive.namelist()) + "requirements.txt"
        if name not in archive.namelist():
            return None
        return parse_requirements(archive.read(name).decode())


def _record(context: Context, workspace_id: int, name: str, uploaded: Path, runs: Path,
            framework: Framework, runtime: str, inputs: tuple[TensorField, ...],
            outputs: tuple[TensorField, ...], config: dict[str, Any], progress: _Progress,
            status: str = "ready") -> ModelVersionRow:
    """Store the uploaded file (its sha is the version's) and the file that runs, if other."""
    source = context.artifacts.put(uploaded)
    running = source if runs == uploaded else context.artifacts.put(runs)
    if running is not source:
        config = {**config, "source_uri": source.uri}
    return context.store.add_model_version(
        workspace_id, name, sha=source.sha, file_name=uploaded.name, framework=framework.value,
        runtime=runtime, artifact_uri=running.uri, inputs=_dump(inputs), outputs=_dump(outputs),
        config=config, status=status, upload_log=progress.lines,
    )
