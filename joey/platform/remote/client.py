"""``joey.Client`` against a joey service: the embedded client's methods, over REST."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from joey.config import Settings
from joey.errors import EntityNotFoundError, JoeyError, ModelUploadError
from joey.platform.listing import DEFAULT_TIME_FORMAT, Listing
from joey.platform.models import Model, ModelVersion
from joey.platform.names import validate_name
from joey.platform.pipeline import Pipeline
from joey.platform.remote.api import Api, RemoteAuth, sign_in
from joey.platform.remote.objects import (
    RemoteModelVersion,
    RemotePipeline,
    RemoteWorkspace,
    schema_b64,
)
from joey.platform.workspace import Workspace

DEFAULT_WORKSPACE = "default"


class RemoteClient:
    """``joey.Client(api_endpoint=...)``: workspaces, models and pipelines of the service, as
    the signed-in user sees them (only the workspaces the user is a member of)."""

    def __init__(self, api_endpoint: str, auth_type: str | None, settings: Settings,
                 request_timeout: float | None = None, time_format: str = DEFAULT_TIME_FORMAT) -> None:
        self.api_endpoint = api_endpoint.rstrip("/")
        self._settings = settings
        self._time_format = time_format
        self._timeout_s = float(request_timeout or settings.request_timeout_s)
        self._api = Api(self.api_endpoint, max(self._timeout_s, 120.0))
        self._api.token = sign_in(self._api, auth_type, settings)
        self.auth = RemoteAuth(self._api.token)
        self._current: RemoteWorkspace | None = None

    # workspaces
    def list_workspaces(self) -> Listing[Workspace]:
        """The caller's workspaces only."""
        found = self._api.post("workspaces/list", {})["workspaces"]
        return Listing((RemoteWorkspace(self, w) for w in found), Workspace.table_row, self._time_format)

    def create_workspace(self, workspace_name: str) -> RemoteWorkspace:
        validate_name("workspace", workspace_name)
        self._api.post("workspaces/create", {"workspace_name": workspace_name})
        return self.get_workspace(workspace_name)

    def get_workspace(self, name: str, create_if_not_exist: bool = False) -> RemoteWorkspace:
        validate_name("workspace", name)
        found = next((w for w in self.list_workspaces() if w.name() == name), None)
        if found is not None:
            return found  # type: ignore[return-value]
        if create_if_not_exist:
            return self.create_workspace(name)
        raise EntityNotFoundError("workspace", name, "(pass create_if_not_exist=True to create it)")

    def _workspace_by_id(self, workspace_id: int) -> RemoteWorkspace:
        found = next((w for w in self.list_workspaces() if w.id() == workspace_id), None)
        if found is None:
            raise EntityNotFoundError("workspace", str(workspace_id))
        return found  # type: ignore[return-value]

    def set_current_workspace(self, workspace: Workspace) -> Workspace:
        if not isinstance(workspace, RemoteWorkspace):
            raise TypeError(f"set_current_workspace takes a workspace of this service, got {workspace!r}")
        self._current = workspace
        return workspace

    def get_current_workspace(self) -> RemoteWorkspace:
        """The one set, else the caller's first; a user with none gets ``default`` when that
        name is free, as in embedded mode."""
        if self._current is None:
            mine = self.list_workspaces()
            if mine:
                self._current = mine[0]  # type: ignore[assignment]
            else:
                try:
                    self._current = self.create_workspace(DEFAULT_WORKSPACE)
                except JoeyError:
                    raise EntityNotFoundError("workspace", "(current)",
                                              "for this user: create_workspace() first") from None
        assert self._current is not None
        return self._current

    # users (the service's own)
    def invite_user(self, email: str, password: str | None = None) -> dict[str, Any]:
        return dict(self._api.post("users/invite", {"email": email, "password": password}))

    def list_users(self) -> list[dict[str, Any]]:
        return list(self._api.post("users/query", {})["users"])

    def get_quotas(self) -> dict[str, Any]:
        """The installation's quotas and their use, as embedded (``admin/get_quotas``: admins)."""
        return dict(self._api.post("admin/get_quotas", {}))

    # models
    def upload_model(self, name: str, path: str | Path, framework: Any = None,
                     input_schema: pa.Schema | None = None, output_schema: pa.Schema | None = None,
                     **_: Any) -> ModelVersion:
        """Streamed to the service, which converts and validates it as embedded mode does."""
        validate_name("model", name)
        path = Path(path)
        if not path.is_file():
            raise ModelUploadError(f"no model file at {str(path)!r}")
        workspace = self.get_current_workspace()
        metadata: dict[str, Any] = {"name": name, "workspace_id": workspace.id(), "conversion": {}}
        if framework is not None:
            metadata["conversion"]["framework"] = str(getattr(framework, "value", framework))
        for key, schema in (("input_schema", input_schema), ("output_schema", output_schema)):
            if schema is not None:
                metadata[key] = schema_b64(schema)
        with path.open("rb") as stream:
            answer = self._api.post("models/upload_and_convert", data={"metadata": json.dumps(metadata)},
                                    files={"file": (path.name, stream, "application/octet-stream")})
        return RemoteModelVersion(self, answer["model_version"])

    def _model_versions(self, workspace_id: int, name: str) -> list[ModelVersion]:
        answer = self._api.post("models/list_versions", {"workspace_id": workspace_id, "name": name})
        return [RemoteModelVersion(self, v) for v in answer["versions"]]

    def get_model(self, name: str, version: str | None = None) -> ModelVersion:
        try:
            versions = self._model_versions(self.get_current_workspace().id(), name)
        except EntityNotFoundError:
            raise EntityNotFoundError("model", name) from None
        found = next((v for v in versions if version is None or v.version() == version), None)
        if found is None:
            raise EntityNotFoundError("model", name, f"with the version {version}")
        return found

    def list_models(self) -> Listing[Model]:
        return Listing(self.get_current_workspace().models(), Model.to_dict, self._time_format)

    # pipelines
    def _pipeline(self, workspace: RemoteWorkspace, path: str, name: str,
                  version: str | None = None) -> RemotePipeline:
        body: dict[str, Any] = {"workspace_id": workspace.id(), "pipeline_id": name}
        if version is not None:
            body["version"] = version
        return RemotePipeline(self, workspace, self._api.post(path, body))

    def build_pipeline(self, pipeline_name: str) -> Pipeline:
        """Create the pipeline, or return the existing one with its latest steps."""
        validate_name("pipeline", pipeline_name)
        return self._pipeline(self.get_current_workspace(), "pipelines/build", pipeline_name)

    def get_pipeline(self, name: str, version: str | None = None) -> Pipeline:
        return self._pipeline(self.get_current_workspace(), "pipelines/get", name, version)

    def list_pipelines(self) -> Listing[Pipeline]:
        return Listing(self.get_current_workspace().pipelines(), Pipeline.table_row, self._time_format)

    # the audit log
    def list_audit_events(self, start: datetime | None = None, end: datetime | None = None,
                          action: str | None = None, limit: int | None = None) -> Listing[dict[str, Any]]:
        """The current workspace's control-plane actions (who, what, when), oldest first."""
        events = self._api.post("audit/list", {"workspace_id": self.get_current_workspace().id()})["events"]
        for event in events:
            event["created_at"] = datetime.fromisoformat(event["created_at"])
        chosen = [e for e in events if (start is None or e["created_at"] >= start)
                  and (end is None or e["created_at"] <= end) and (action is None or e["action"] == action)]
        return Listing(chosen[:limit] if limit is not None else chosen, dict, self._time_format)
