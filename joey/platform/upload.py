"""Upload: pick the framework, prove the runtime can load the file, store it, record it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from joey.errors import FrameworkNotInstalledError, ModelUploadError
from joey.framework import Framework
from joey.platform.context import Context
from joey.platform.store import ModelVersionRow
from joey.runtimes import runtime_class

_BY_SUFFIX = {".onnx": Framework.ONNX}
# framework -> runtime that serves it natively (later issues add the rest)
_RUNTIME = {Framework.ONNX: "onnx"}


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


def upload(
    context: Context,
    workspace_id: int,
    name: str,
    path: Path,
    framework: Framework | str | None,
    input_schema: pa.Schema | None,
    output_schema: pa.Schema | None,
) -> ModelVersionRow:
    """Store ``path`` as a new version of model ``name`` once its runtime has loaded it."""
    if not path.is_file():
        raise ModelUploadError(f"no model file at {str(path)!r}")
    chosen = resolve_framework(path, framework)
    runtime_name = _RUNTIME.get(chosen)
    if runtime_name is None:
        supported = ", ".join(f.value for f in _RUNTIME)
        raise ModelUploadError(f"framework {chosen.value!r} is not supported yet; supported: {supported}")
    log = ["Waiting for model loading - this will take up to 10min.", "Model is pending loading to a native runtime."]
    cls = runtime_class(runtime_name)
    runtime = cls()
    try:
        runtime.load(path, cls.parse_config(None))
        inputs, outputs = runtime.signature()
    except FrameworkNotInstalledError:
        raise
    except Exception as exc:
        raise ModelUploadError(f"{runtime_name} cannot load {path.name!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        runtime.close()
    log.append("Model is attempting loading to a native runtime..successful")
    log.append("Ready")
    ref = context.artifacts.put(path)
    return context.store.add_model_version(
        workspace_id,
        name,
        sha=ref.sha,
        file_name=path.name,
        framework=chosen.value,
        runtime=runtime_name,
        artifact_uri=ref.uri,
        inputs=[f.model_dump(mode="json") for f in inputs],
        outputs=[f.model_dump(mode="json") for f in outputs],
        config={},
        status="ready",
        upload_log=log,
    )
