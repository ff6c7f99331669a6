"""``joey.Client``: the SDK's entry point (embedded mode: SQLite, local artifacts, local Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from joey.config import Settings
from joey.errors import EntityNotFoundError, JoeyError
from joey.framework import Framework
from joey.platform.context import Context
from joey.platform.models import Model, ModelVersion, get_model_version
from joey.platform.names import validate_name
from joey.platform.pipeline import Pipeline, get_pipeline
from joey.platform.upload import upload
from joey.platform.workspace import Workspace

DEFAULT_WORKSPACE = "default"


class Client:
    """Workspaces, models and pipelines; state lives in ``JOEY_HOME`` and survives the process."""

    def __init__(self, api_endpoint: str | None = None, request_timeout: float | None = None,
                 auth_type: str | None = None, interactive: bool | None = None, *,
                 settings: Settings | None = None) -> None:
        if api_endpoint is not None:
            raise JoeyError("remote mode (api_endpoint=...) needs the joey REST API, which is not built yet")
        base = settings or Settings()
        if request_timeout is not None:
            base = base.model_copy(update={"request_timeout_s": float(request_timeout)})
        self._context = Context(base)
        self._context.store  # noqa: B018 - open the store (and migrate) now, not on first use
        self._current: Workspace | None = None

    @property
    def settings(self) -> Settings:
        return self._context.settings

    # workspaces
    def create_workspace(self, workspace_name: str) -> Workspace:
        validate_name("workspace", workspace_name)
        store = self._context.store
        if store.get_workspace(workspace_name) is not None:
            raise JoeyError(f"workspace {workspace_name!r} already exists")
        return Workspace(self._context, store.create_workspace(workspace_name))

    def get_workspace(self, name: str, create_if_not_exist: bool = False) -> Workspace:
        validate_name("workspace", name)
        row = self._context.store.get_workspace(name)
        if row is None:
            if not create_if_not_exist:
                raise EntityNotFoundError(
                    "workspace", name, "(pass create_if_not_exist=True to create it)"
                )
            row = self._context.store.create_workspace(name)
        return Workspace(self._context, row)

    def list_workspaces(self) -> list[Workspace]:
        return [Workspace(self._context, r) for r in self._context.store.list_workspaces()]

    def set_current_workspace(self, workspace: Workspace) -> Workspace:
        self._current = workspace
        return workspace

    def get_current_workspace(self) -> Workspace:
        if self._current is None:
            self._current = self.get_workspace(DEFAULT_WORKSPACE, create_if_not_exist=True)
        return self._current

    def _workspace(self, workspace_name: str | None = None) -> Workspace:
        return self.get_workspace(workspace_name) if workspace_name else self.get_current_workspace()

    # models
    def upload_model(self, name: str, path: str | Path, framework: Framework | str | None = None,
                     input_schema: pa.Schema | None = None, output_schema: pa.Schema | None = None,
                     convert_wait: bool | None = True, **_: Any) -> ModelVersion:
        """Upload a model file as a new version of ``name`` in the current workspace."""
        validate_name("model", name)
        workspace = self.get_current_workspace()
        row = upload(self._context, workspace.id(), name, Path(path), framework, input_schema, output_schema)
        return ModelVersion(self._context, row)

    def get_model(self, name: str, version: str | None = None) -> ModelVersion:
        return get_model_version(self._context, self.get_current_workspace().id(), name, version)

    def list_models(self, workspace_id: int | None = None, workspace_name: str | None = None) -> list[Model]:
        return self._workspace(workspace_name).models()

    # pipelines
    def build_pipeline(self, pipeline_name: str) -> Pipeline:
        """Create the pipeline, or return the existing one with its latest steps."""
        validate_name("pipeline", pipeline_name)
        workspace = self.get_current_workspace()
        row = self._context.store.get_or_create_pipeline(workspace.id(), pipeline_name)
        version = self._context.store.get_pipeline_version(row.id)
        return Pipeline(self._context, workspace._row, row, version)

    def get_pipeline(self, name: str, version: str | None = None) -> Pipeline:
        return get_pipeline(self._context, self.get_current_workspace()._row, name, version)

    def list_pipelines(self, workspace_id: int | None = None, workspace_name: str | None = None) -> list[Pipeline]:
        pipelines: list[Pipeline] = self._workspace(workspace_name).pipelines()
        return pipelines
