"""SDK objects for models: ``Model`` (a name) and ``ModelVersion`` (one upload) with its config."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from joey.errors import EntityNotFoundError, ModelConfigError
from joey.platform.compat import ignored_argument
from joey.platform.context import Context
from joey.platform.store import ModelRow, ModelVersionRow
from joey.runtimes.registry import SCHEMA_RUNTIMES, record_for
from joey.spec import TensorField
from joey.tables.tensors import decode_arrow


def fields_to_schema(fields: list[dict[str, Any]]) -> pa.Schema:
    """TensorFields as the Arrow schema a request column must have."""
    result = []
    for raw in fields:
        field = TensorField.model_validate(raw)
        if field.arrow is not None:
            result.append(decode_arrow(field.arrow))
            continue
        arrow_type: pa.DataType = pa.string() if field.dtype == "string" else pa.from_numpy_dtype(field.dtype)
        for dim in reversed(field.shape):
            arrow_type = pa.list_(arrow_type, dim) if dim is not None else pa.list_(arrow_type)
        result.append(pa.field(field.name, arrow_type))
    return pa.schema(result)


class ModelConfig:
    """A model version's configuration (``model.config()``)."""

    def __init__(self, version: ModelVersion) -> None:
        self._version = version
        self._row = version._row

    def id(self) -> int:
        return self._row.id

    def runtime(self) -> str:
        return self._row.runtime

    def tensor_fields(self) -> list[str] | None:
        fields = self._row.config.get("tensor_fields")
        return list(fields) if fields else None

    def filter_threshold(self) -> float | None:
        return self._row.config.get("filter_threshold")  # type: ignore[no-any-return]

    def batch_config(self) -> str | None:
        return self._row.config.get("batch_config")  # type: ignore[no-any-return]

    def dynamic_batching_config(self) -> dict[str, Any] | None:
        return self._row.config.get("dynamic_batching_config")  # type: ignore[no-any-return]

    def conversion(self) -> dict[str, Any] | None:
        """What upload tried to convert to ONNX, whether it kept it, and the evidence."""
        return self._row.config.get("conversion")  # type: ignore[no-any-return]

    def input_schema(self) -> pa.Schema:
        return fields_to_schema(self._row.inputs)

    def output_schema(self) -> pa.Schema:
        return fields_to_schema(self._row.outputs)

    def model_version(self) -> ModelVersion:
        return self._version

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id(),
            "model_version_id": self._row.id,
            "runtime": self.runtime(),
            "tensor_fields": self.tensor_fields(),
            "filter_threshold": self.filter_threshold(),
            "batch_config": self.batch_config(),
            "dynamic_batching_config": self.dynamic_batching_config(),
            "conversion": self.conversion(),
        }

    def __repr__(self) -> str:
        return repr(self.to_dict())


class ModelVersion:
    """One uploaded artifact under a model name (Wallaroo's ``ModelVersion``)."""

    def __init__(self, context: Context, row: ModelVersionRow) -> None:
        self._context = context
        self._row = row

    def id(self) -> int:
        return self._row.id

    def uid(self) -> str:
        return f"{self._row.name}-{self._row.id}"

    def name(self) -> str:
        return self._row.name

    def version(self) -> str:
        return self._row.version

    def sha(self) -> str:
        return self._row.sha

    def status(self) -> str:
        return self._row.status

    def file_name(self) -> str:
        return self._row.file_name

    def framework(self) -> str:
        return self._row.framework

    def image_path(self) -> None:
        return None

    def arch(self) -> str:
        """The architecture asked for at upload (``x86`` unless ``upload_model(arch=...)``)."""
        return str(self._row.config.get("arch", "x86"))

    def accel(self) -> str:
        """The accelerator asked for at upload (``none`` unless ``upload_model(accel=...)``)."""
        return str(self._row.config.get("accel", "none"))

    def last_update_time(self) -> datetime:
        return self._row.updated_at

    def workspace(self) -> Any:
        from joey.platform.workspace import Workspace

        row = self._context.store.get_workspace_by_id(self._row.workspace_id)
        assert row is not None
        return Workspace(self._context, row)

    def config(self) -> ModelConfig:
        return ModelConfig(self)

    def get_upload_logs(self, limit: int | None = None) -> list[str]:
        lines = list(self._row.upload_log)
        return lines if limit is None else lines[-limit:]

    def configure(
        self,
        runtime: str | None = None,
        tensor_fields: list[str] | None = None,
        filter_threshold: float | None = None,
        input_schema: pa.Schema | None = None,
        output_schema: pa.Schema | None = None,
        batch_config: str | None = None,
        dynamic_batching_config: Any = None,
        continuous_batching_config: Any = None,
        openai_config: Any = None,
    ) -> ModelVersion:
        """Set this version's configuration; returns the configured version.

        ``runtime`` picks among the runtimes that can run the model (the user's choice
        wins over upload's); schemas replace those of models that run by schema
        (``flight``, ``python``) and must match a native model's own signature.
        """
        if continuous_batching_config is not None:
            ignored_argument("configure", "continuous_batching_config", "joey serves no LLM engine yet")
        if openai_config is not None:
            ignored_argument("configure", "openai_config", "joey serves no OpenAI-compatible endpoint yet")
        store = self._context.store
        if runtime is not None:
            from joey.platform.runtime_choice import choose_runtime

            changes = choose_runtime(self._row, str(runtime))
            if changes is not None:
                self._row = store.update_model_version(self._row.id, **changes)
        if input_schema is not None or output_schema is not None:
            self._row = store.update_model_version(self._row.id, **self._schema_changes(input_schema, output_schema))
        config = dict(self._row.config)
        if tensor_fields is not None:
            if len(tensor_fields) != len(self._row.inputs):
                names = [f["name"] for f in self._row.inputs]
                raise ModelConfigError(
                    f"tensor_fields needs one name per model input {names}, got {list(tensor_fields)}"
                )
            config["tensor_fields"] = list(tensor_fields)
        if batch_config is not None:
            if batch_config not in ("single",):
                raise ModelConfigError(f"batch_config takes 'single' or None, got {batch_config!r}")
            config["batch_config"] = batch_config
        if filter_threshold is not None:
            config["filter_threshold"] = filter_threshold
        if dynamic_batching_config is not None:
            from pydantic import ValidationError

            from joey.dynamic_batching_config import DynamicBatchingConfig

            raw = dynamic_batching_config
            try:
                batching = raw if isinstance(raw, DynamicBatchingConfig) else DynamicBatchingConfig.model_validate(raw)
            except ValidationError as exc:
                raise ModelConfigError(f"dynamic_batching_config: {exc}") from exc
            config["dynamic_batching_config"] = batching.model_dump()
        self._row = store.update_model_version(self._row.id, config=config)
        given = {"runtime": runtime, "tensor_fields": tensor_fields, "filter_threshold": filter_threshold,
                 "input_schema": str(input_schema) if input_schema is not None else None,
                 "output_schema": str(output_schema) if output_schema is not None else None,
                 "batch_config": batch_config, "dynamic_batching_config": config.get("dynamic_batching_config")
                 if dynamic_batching_config is not None else None}
        self._context.audit("model.configure", "model_version", self.name(),
                            workspace_id=self._row.workspace_id, object_id=self._row.id,
                            version=self.version(), **{k: v for k, v in given.items() if v is not None})
        return self

    def _schema_changes(self, input_schema: pa.Schema | None, output_schema: pa.Schema | None) -> dict[str, Any]:
        """New inputs/outputs for a model that runs by schema; a native model's must match its own."""
        from joey.runtimes.schema import fields_from_schema

        row = self._row
        record = record_for(row.framework)
        given = {
            "inputs": [f.model_dump(mode="json") for f in fields_from_schema(
                input_schema, optional=record.optional_inputs, per_row=record.per_row)]
            if input_schema is not None else None,
            "outputs": [f.model_dump(mode="json") for f in fields_from_schema(
                output_schema, per_row=record.per_row)] if output_schema is not None else None,
        }
        if row.runtime in SCHEMA_RUNTIMES:
            config = dict(row.config)
            schema_config = dict(config.get("runtime_config") or {})
            for key, fields in given.items():
                if fields is not None:
                    schema_config[key] = fields
            config["runtime_config"] = schema_config
            return {**{k: v for k, v in given.items() if v is not None}, "config": config}
        for key, fields in given.items():
            own = getattr(row, key)
            if fields is not None and [f["name"] for f in fields] != [f["name"] for f in own]:
                raise ModelConfigError(
                    f"model {row.name!r} runs on {row.runtime!r}, whose {key} come from the model: "
                    f"{[f['name'] for f in own]}; the {key[:-1]}_schema names {[f['name'] for f in fields]}"
                )
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name(),
            "version": self.version(),
            "file_name": self.file_name(),
            "image_path": None,
            "arch": self.arch(),
            "accel": self.accel(),
            "last_update_time": self.last_update_time(),
            "sha": self.sha(),
            "runtime": self._row.runtime,
            "conversion": self._row.config.get("conversion"),
        }

    def __repr__(self) -> str:
        return repr(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVersion) and other._row.id == self._row.id

    def __hash__(self) -> int:
        return hash(self._row.id)


class Model:
    """A model name and its versions (``list_models()`` entries)."""

    def __init__(self, context: Context, row: ModelRow) -> None:
        self._context = context
        self._row = row

    def id(self) -> int:
        return self._row.id

    def name(self) -> str:
        return self._row.name

    def created_at(self) -> datetime:
        return self._row.created_at

    def last_update_time(self) -> datetime:
        return self._row.updated_at

    def versions(self) -> list[ModelVersion]:
        rows = self._context.store.list_model_versions(self._row.workspace_id, self._row.name)
        return [ModelVersion(self._context, r) for r in rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name(),
            "versions": self._row.version_count,
            "last_update_time": self.last_update_time(),
            "created_at": self.created_at(),
        }

    def __repr__(self) -> str:
        return repr(self.to_dict())


def get_model_version(context: Context, workspace_id: int, name: str, version: str | None) -> ModelVersion:
    row = context.store.get_model_version(workspace_id, name, version)
    if row is None:
        if version is None or context.store.get_model_version(workspace_id, name) is None:
            raise EntityNotFoundError("model", name)
        raise EntityNotFoundError("model", name, f"with the version {version}")
    return ModelVersion(context, row)
