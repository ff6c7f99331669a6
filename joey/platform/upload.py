"""Upload, one straight line: resolve the framework's record -> load (in the platform, or in
the model's own environment) -> signature -> convert to ONNX and prove (where the record
has a converter) -> store the artifact -> record the version.

Everything framework-specific comes from the record (``joey.runtimes.registry``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from joey.errors import FrameworkNotInstalledError, ModelUploadError
from joey.framework import Framework
from joey.platform.context import Context
from joey.platform.store import ModelVersionRow
from joey.runtimes import FrameworkRecord, Runtime, record_for, runtime_class
from joey.runtimes.convert import ConversionRecord
from joey.runtimes.schema import fields_from_schema
from joey.spec import TensorField


class _Progress:
    """The upload log, printed as it grows (the way Wallaroo's upload shows progress)."""

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.lines: list[str] = []
        self._echo = echo

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self._echo(line)


@dataclass
class _Upload:
    """What the line has found so far about one upload."""

    record: FrameworkRecord
    artifact: Path
    """The uploaded file (a folder arrives zipped)."""
    file_name: str
    progress: _Progress
    inputs: tuple[TensorField, ...] = ()
    outputs: tuple[TensorField, ...] = ()
    runtime_config: dict[str, Any] = field(default_factory=dict)
    requirements: list[str] | None = None
    runtime: str = ""
    runs: Path | None = None
    """The file that runs, when it is not the uploaded one (a proven ONNX conversion)."""
    config: dict[str, Any] = field(default_factory=dict)


def _dump(fields: tuple[TensorField, ...]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in fields]


def _load(key: str, path: Path, raw_config: dict[str, Any] | None) -> Runtime:
    """Load ``path`` with the runtime registered under ``key``, in this process."""
    cls = runtime_class(key)
    runtime = cls()
    try:
        runtime.load(path, cls.parse_config(raw_config))
    except FrameworkNotInstalledError:
        raise
    except Exception as exc:
        raise ModelUploadError(f"{key} cannot load {path.name!r}: {type(exc).__name__}: {exc}") from exc
    return runtime


def _hook(record: FrameworkRecord, hook: str | None, artifact: Path) -> Any:
    """One of the record's ``(artifact, framework)`` hooks; what it raises names the upload's
    problem (a zip that is not the framework's, a task that does not exist, ...)."""
    try:
        return record.call(hook, artifact, record.framework.value)
    except (ModelUploadError, FrameworkNotInstalledError):
        raise
    except Exception as exc:
        raise ModelUploadError(f"{record.framework.value}: {exc}") from exc


def _schemas(up: _Upload, input_schema: pa.Schema | None, output_schema: pa.Schema | None) -> None:
    """The user's schemas, else the record's defaults (a task's, a signature's); the model's
    own come later, from the loaded runtime."""
    record = up.record
    if record.schemas == "model":
        return
    if (input_schema is None or output_schema is None) and record.schemas == "user_or_default":
        defaults = _hook(record, record.default_schemas, up.artifact)
        if defaults is not None:
            input_schema = input_schema if input_schema is not None else defaults[0]
            output_schema = output_schema if output_schema is not None else defaults[1]
    if input_schema is None or output_schema is None:
        raise ModelUploadError(
            f"framework {record.framework.value!r} needs input_schema and output_schema (pyarrow schemas)")
    up.inputs = fields_from_schema(input_schema, optional=record.optional_inputs, per_row=record.per_row)
    up.outputs = fields_from_schema(output_schema, per_row=record.per_row)
    up.runtime_config = {"inputs": _dump(up.inputs), "outputs": _dump(up.outputs), **record.runtime_config}


def _environment(context: Context, up: _Upload) -> Path | None:
    """The python of the model's own environment (built now if new), or ``None`` when the
    model runs in the platform's."""
    record = up.record
    requirements = _hook(record, record.requirements, up.artifact)
    if requirements is None and record.requirements_file_expected:
        up.progress(f"Warning: no requirements.txt in {up.file_name}; treated as empty "
                    "(Wallaroo requires one, even empty)")
    if not requirements:
        return None
    from joey.runtimes.environments import ensure_environment

    up.requirements = list(requirements)
    return ensure_environment(up.requirements, context.settings.resolved_envs_dir, up.progress)


def _check_isolated(python: Path, up: _Upload) -> None:
    """Load (and, where the runtime asks, run one generated row) inside the environment."""
    from joey.runtimes.environments import check_in_environment

    up.progress("Model is pending loading to a container runtime..")
    check_in_environment(python, up.record.key, up.artifact, json.dumps(up.runtime_config),
                         dict(up.record.env_vars))


def _convert(up: _Upload, original: Runtime, scratch: Path) -> bool:
    """Try the record's converter; keep the ONNX file only when proven equal."""
    from joey.runtimes.convert import try_convert

    converted = scratch / f"{Path(up.file_name).stem}.onnx"
    conversion = try_convert(up.record.framework.value, up.artifact, original, up.inputs, up.outputs,
                             converted)
    up.config["conversion"] = conversion.to_dict()
    if not conversion.kept:
        up.progress(f"Model is attempting loading to a native runtime..incompatible ({conversion.detail})")
        return False
    up.progress(f"Model is attempting loading to a native runtime..successful "
                f"(ONNX by {conversion.tried}, {conversion.inputs_compared} generated rows, "
                f"max abs diff {conversion.max_abs_diff:.3g})")
    up.runtime, up.runs = "onnx", converted
    return True


def _run_line(context: Context, up: _Upload, scratch: Path) -> None:
    """Load -> signature -> convert and prove; fills ``up`` with what to record."""
    record = up.record
    python = _environment(context, up)
    if python is not None:
        _check_isolated(python, up)
        up.config["requirements"] = up.requirements
    if record.schemas == "model":
        up.progress("Model is pending loading to a native runtime.")
    elif record.to_onnx is not None:
        up.progress("Model is pending loading to a native runtime..")
    elif python is None:
        up.progress("Model is pending loading to a container runtime..")
    original = _load_for_conversion(up) if python is None or record.to_onnx is not None else None
    if original is not None:
        for line in original.load_log:
            up.progress(line)
        if record.schemas == "model":
            up.inputs, up.outputs = original.signature()
        elif python is None and original.probe_at_upload:
            _probe(original, up.outputs)
        converted = record.to_onnx is not None and _convert(up, original, scratch)
        original.close()
        if converted:
            return
    up.runtime = record.runtime
    if record.schemas != "model":
        up.config["runtime_config"] = up.runtime_config
    if record.schemas == "model":
        up.progress("Model is attempting loading to a native runtime..successful")
        return
    if python is None and record.to_onnx is not None:
        up.progress("Model is pending loading to a container runtime..")
    up.progress("Model is attempting loading to a container runtime..successful")


def _probe(runtime: Runtime, outputs: tuple[TensorField, ...]) -> None:
    from joey.runtimes.check import probe

    try:
        probe(runtime, outputs)
    except Exception as exc:
        raise ModelUploadError(f"{type(exc).__name__}: {exc}") from exc


def _load_for_conversion(up: _Upload) -> Runtime | None:
    """The model loaded in the platform's process: to run it there, or to prove a
    conversion. A model in its own environment that the platform cannot load is not
    converted (the record says why)."""
    raw = up.runtime_config if up.record.schemas != "model" else None
    if up.requirements is None:
        return _load(up.record.key, up.artifact, raw)
    try:
        return _load(up.record.key, up.artifact, raw)
    except (ModelUploadError, FrameworkNotInstalledError) as exc:
        up.config["conversion"] = ConversionRecord(
            up.record.converter or "none", False,
            detail=f"the platform cannot load it to convert: {exc}"[:500]).to_dict()
        return None


def upload(
    context: Context,
    workspace_id: int,
    name: str,
    source: str | Path,
    framework: Framework | str | None,
    input_schema: pa.Schema | None,
    output_schema: pa.Schema | None,
) -> ModelVersionRow:
    """Store ``source`` as a new version of model ``name`` once a runtime has loaded it."""
    from joey.platform.sources import local_artifact

    progress = _Progress(context.echo)
    with tempfile.TemporaryDirectory(prefix="joey-upload-") as scratch:
        record = record_for(framework, Path(str(source)))
        artifact, file_name = local_artifact(source, record, Path(scratch),
                                             context.settings.mlflow_tracking_uri)
        up = _Upload(record=record, artifact=artifact, file_name=file_name, progress=progress)
        progress("Waiting for model loading - this will take up to 10min.")
        try:
            _schemas(up, input_schema, output_schema)
            _run_line(context, up, Path(scratch))
        except ModelUploadError as exc:
            if not record.failures_recorded:
                raise
            progress(f"stdout F custom model validation failed: {exc}")
            up.runtime = record.runtime
            up.config.setdefault("runtime_config", up.runtime_config)
            row = _record(context, workspace_id, name, up, status="error")
            raise ModelUploadError(
                f"{exc} (model {name!r} version {row.version} recorded with status 'error'; "
                "get_upload_logs() shows the log)"
            ) from exc
        progress("Ready")
        return _record(context, workspace_id, name, up)


def _record(context: Context, workspace_id: int, name: str, up: _Upload,
            status: str = "ready") -> ModelVersionRow:
    """Store the uploaded file (its sha is the version's) and the file that runs, if other."""
    source = context.artifacts.put(up.artifact)
    running = source if up.runs is None else context.artifacts.put(up.runs)
    config = dict(up.config)
    if running is not source:
        config["source_uri"] = source.uri
    return context.store.add_model_version(
        workspace_id, name, sha=source.sha, file_name=up.file_name, framework=up.record.framework.value,
        runtime=up.runtime, artifact_uri=running.uri, inputs=_dump(up.inputs), outputs=_dump(up.outputs),
        config=config, status=status, upload_log=up.progress.lines,
    )
