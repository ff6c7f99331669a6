"""``configure(runtime=...)``: which runtimes can run a model version, and switching between them.

Upload keeps the file as uploaded and, where the conversion was proven, an ONNX file.
Each runtime that can run one of them is a choice: ``onnx`` for the converted (or
uploaded) ONNX file, the framework's own runtime (``tensorflow``, ``python``, ``flight``)
for the uploaded file. The user's explicit choice wins over upload's.
"""

from __future__ import annotations

import logging
from typing import Any

from joey.errors import ModelConfigError
from joey.platform.store import ModelVersionRow
from joey.runtimes.registry import SCHEMA_RUNTIMES, record_for

logger = logging.getLogger(__name__)

def own_runtime(framework: str) -> str:
    """The runtime that runs the uploaded file itself (its framework record's)."""
    return record_for(framework).runtime


def _schema_config(row: ModelVersionRow) -> dict[str, Any]:
    return {"inputs": list(row.inputs), "outputs": list(row.outputs)}


def runnable(row: ModelVersionRow) -> dict[str, dict[str, Any]]:
    """Runtime name -> the artifact it runs and its runtime config, for each runtime that can."""
    known = row.config.get("runtime_artifacts")
    if known:
        return {name: dict(choice) for name, choice in known.items()}
    choices = {row.runtime: {"uri": row.artifact_uri,
                             "runtime_config": dict(row.config.get("runtime_config") or {})}}
    source = row.config.get("source_uri")
    if source:  # upload converted the file: the original still runs in its own framework
        runtime = own_runtime(row.framework)
        config = _schema_config(row) if runtime in SCHEMA_RUNTIMES else {}
        choices[runtime] = {"uri": source, "runtime_config": config}
    return choices


def choose_runtime(row: ModelVersionRow, runtime: str) -> dict[str, Any] | None:
    """The version's new fields for ``runtime`` (``None`` when it already runs there).

    Raises ``ModelConfigError`` naming the runtimes that can run the model.
    """
    choices = runnable(row)
    if runtime not in choices:
        raise ModelConfigError(
            f"model {row.name!r} ({row.framework}) cannot run on runtime {runtime!r}; "
            f"runtimes that can run it: {', '.join(sorted(choices))}"
        )
    if runtime == row.runtime:
        return None
    chosen = choices[runtime]
    config = {**row.config, "runtime_artifacts": choices, "runtime_chosen_by": "configure"}
    if chosen["runtime_config"]:
        config["runtime_config"] = chosen["runtime_config"]
    else:
        config.pop("runtime_config", None)
    line = f"runtime set to {runtime!r} by configure() (was {row.runtime!r}); runs {chosen['uri']}"
    logger.info("model %s version %s: %s", row.name, row.version, line)
    return {"runtime": runtime, "artifact_uri": chosen["uri"], "config": config,
            "upload_log": [*row.upload_log, line]}
