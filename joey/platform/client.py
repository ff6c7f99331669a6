"""``joey.Client``: the SDK's entry point (embedded mode: SQLite, local artifacts, local Ray)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from joey.config import Settings
from joey.engine_config import (
    Acceleration,
    AccelerationWithConfig,
    Architecture,
    acceleration,
    architecture,
)
from joey.errors import EntityNotFoundError, JoeyError, ModelUploadError
from joey.framework import Framework
from joey.platform.auth import EmbeddedAuth
from joey.platform.compat import ignored_argument
from joey.platform.context import Context
from joey.platform.listing import DEFAULT_TIME_FORMAT, Listing
from joey.platform.models import Model, ModelVersion, get_model_version
from joey.platform.names import validate_name
from joey.platform.pipeline import Pipeline, get_pipeline
from joey.platform.store import WorkspaceRow
from joey.platform.upload import upload
from joey.platform.workspace import Workspace

DEFAULT_WORKSPACE = "default"
EMBEDDED_AUTH_TYPES = (None, "none")


class Client:
    """Workspaces, models and pipelines; state lives in ``JOEY_HOME`` and survives the process.

    The arguments are Wallaroo's, in its order. Embedded mode has no login: an
    ``auth_type`` other than ``none`` warns once and changes nothing. With ``api_endpoint``
    (or ``JOEY_URL``/``WALLAROO_URL``) the client is remote: ``joey.platform.remote``.
    """

    def __new__(cls, api_endpoint: str | None = None, request_timeout: float | None = None,
                auth_type: str | None = None, *_args: Any, settings: Settings | None = None, **_kwargs: Any) -> Any:
        base = settings or Settings()
        endpoint = api_endpoint or base.url
        if endpoint:
            from joey.platform.remote import RemoteClient

            return RemoteClient(endpoint, auth_type, base, request_timeout)
        return super().__new__(cls)

    def __init__(self, api_endpoint: str | None = None, request_timeout: float | None = None,
                 auth_type: str | None = None, gql_client: Any = None, interactive: bool | None = None,
                 time_format: str = DEFAULT_TIME_FORMAT, config: dict[str, Any] | None = None, *,
                 settings: Settings | None = None) -> None:
        assert api_endpoint is None, "a remote client is built by __new__"
        if auth_type not in EMBEDDED_AUTH_TYPES:
            ignored_argument("Client", "auth_type", "embedded mode has no login; "
                             "wl.auth.auth_header() returns a local bearer token")
        if gql_client is not None:
            ignored_argument("Client", "gql_client", "joey has no GraphQL API")
        if config is not None:
            ignored_argument("Client", "config", "joey reads its settings from JOEY_* variables")
        base = settings or Settings()
        if request_timeout is not None:
            base = base.model_copy(update={"request_timeout_s": float(request_timeout)})
        self._context = Context(base, interactive=True if interactive is None else interactive,
                                time_format=time_format)
        self._context.store  # noqa: B018 - open the store (and migrate) now, not on first use
        self._current: Workspace | None = None
        self.auth = EmbeddedAuth(base.home)
        """``wl.auth.auth_header()`` for HTTP inference requests."""

    @classmethod
    def _bound(cls, context: Context) -> Client:
        """A client over an existing context (the service: one per request, sharing the store)."""
        client = cls.__new__(cls)
        client._context = context
        client._current = None
        client.auth = EmbeddedAuth(context.settings.home)
        return client

    @property
    def settings(self) -> Settings:
        return self._context.settings

    @property
    def api_endpoint(self) -> str:
        """Base URL of this joey (embedded: Serve's HTTP address); no trailing slash."""
        settings = self._context.settings
        return f"http://{settings.http_host}:{settings.http_port}"

    # workspaces
    def create_workspace(self, workspace_name: str) -> Workspace:
        validate_name("workspace", workspace_name)
        store = self._context.store
        if store.get_workspace(workspace_name) is not None:
            raise JoeyError(f"workspace {workspace_name!r} already exists")
        return self._created_workspace(store.create_workspace(workspace_name))

    def _created_workspace(self, row: WorkspaceRow) -> Workspace:
        self._context.audit("workspace.create", "workspace", row.name, workspace_id=row.id, object_id=row.id)
        return Workspace(self._context, row)

    def get_workspace(self, name: str, create_if_not_exist: bool = False) -> Workspace:
        validate_name("workspace", name)
        row = self._context.store.get_workspace(name)
        if row is None:
            if not create_if_not_exist:
                raise EntityNotFoundError(
                    "workspace", name, "(pass create_if_not_exist=True to create it)"
                )
            return self._created_workspace(self._context.store.create_workspace(name))
        return Workspace(self._context, row)

    def list_workspaces(self) -> Listing[Workspace]:
        workspaces = (Workspace(self._context, r) for r in self._context.store.list_workspaces())
        return Listing(workspaces, Workspace.table_row, self._context.time_format)

    def set_current_workspace(self, workspace: Workspace) -> Workspace:
        self._current = workspace
        return workspace

    def get_current_workspace(self) -> Workspace:
        if self._current is None:
            self._current = self.get_workspace(DEFAULT_WORKSPACE, create_if_not_exist=True)
        return self._current

    def _workspace(self, workspace_id: int | None, workspace_name: str | None) -> Workspace:
        """The workspace named by id or name (Wallaroo's pair of arguments), else the current one."""
        if workspace_id is not None:
            row = self._context.store.get_workspace_by_id(workspace_id)
            if row is None:
                raise EntityNotFoundError("workspace", str(workspace_id), "(no workspace has this id)")
            workspace = Workspace(self._context, row)
            if workspace_name is not None and workspace_name != workspace.name():
                raise JoeyError(f"workspace_id {workspace_id} is {workspace.name()!r}, "
                                f"not workspace_name {workspace_name!r}")
            return workspace
        if workspace_name is not None:
            return self.get_workspace(workspace_name)
        return self.get_current_workspace()

    # models
    def upload_model(self, name: str, path: str | Path, framework: Framework | str | None = None,
                     input_schema: pa.Schema | None = None, output_schema: pa.Schema | None = None,
                     convert_wait: bool | None = True, arch: Architecture | str | None = None,
                     accel: Acceleration | AccelerationWithConfig | str | None = None,
                     framework_config: Any = None) -> ModelVersion:
        """Upload a model file as a new version of ``name`` in the current workspace.

        ``arch``/``accel`` are recorded (``model.arch()``/``accel()``) and checked at deploy.
        Upload always waits: ``convert_wait=False`` warns once.
        """
        validate_name("model", name)
        try:
            asked = {"arch": architecture(arch).value, "accel": acceleration(accel).value}
        except ValueError as exc:
            raise ModelUploadError(str(exc)) from None
        if convert_wait is False:
            ignored_argument("upload_model", "convert_wait",
                             "joey converts and validates during the upload and returns when it is done")
        if framework_config is not None:
            asked["framework_config"] = _plain(framework_config)
        workspace = self.get_current_workspace()
        try:
            row = upload(self._context, workspace.id(), name, path, framework, input_schema, output_schema)
        except ModelUploadError as exc:
            self._context.audit("model.upload.failed", "model", name, workspace_id=workspace.id(),
                                file=Path(path).name, error=str(exc))
            raise
        row = self._context.store.update_model_version(row.id, config={**row.config, **asked})
        self._context.audit("model.upload", "model_version", name, workspace_id=workspace.id(), object_id=row.id,
                            version=row.version, sha=row.sha, framework=row.framework, runtime=row.runtime,
                            **asked)
        return ModelVersion(self._context, row)

    def register_model_image(self, name: str, image: str | Path) -> Any:
        """Wallaroo's MLflow registration: ``register_model_image(name, image).configure("mlflow",
        input_schema=..., output_schema=...)`` uploads the MLflow model folder or ``models:/``
        URI that ``image`` names (joey runs no container images)."""
        from joey.platform.model_images import register_model_image

        validate_name("model", name)
        return register_model_image(name, image, self.upload_model)

    def get_model(self, name: str, version: str | None = None) -> ModelVersion:
        return get_model_version(self._context, self.get_current_workspace().id(), name, version)

    def list_models(self, workspace_id: int | None = None, workspace_name: str | None = None) -> Listing[Model]:
        models = self._workspace(workspace_id, workspace_name).models()
        return Listing(models, Model.to_dict, self._context.time_format)

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

    # the audit log
    def list_audit_events(self, start: datetime | None = None, end: datetime | None = None,
                          workspace_id: int | None = None, workspace_name: str | None = None,
                          action: str | None = None, limit: int | None = None) -> Listing[dict[str, Any]]:
        """Control-plane actions (who, what, when, on which object), oldest first."""
        workspace = (self._workspace(workspace_id, workspace_name).id()
                     if workspace_id is not None or workspace_name is not None else None)
        events = self._context.store.list_audit_events(start, end, workspace, action, limit)
        return Listing((asdict(e) for e in events), dict, self._context.time_format)

    def list_pipelines(self, workspace_id: int | None = None,
                       workspace_name: str | None = None) -> Listing[Pipeline]:
        pipelines: list[Pipeline] = self._workspace(workspace_id, workspace_name).pipelines()
        return Listing(pipelines, Pipeline.table_row, self._context.time_format)

    # quotas
    def get_quotas(self) -> dict[str, Any]:
        """joey: the installation's quotas and what is used of them: ``preset``, ``source``
        (``JOEY_QUOTAS`` or ``admin``), ``policy`` (each limit, None: none) and ``usage``
        (users, deployed pipelines, the most steps of a deployed pipeline, CPU cores reserved)."""
        from joey.platform.quotas import report

        return report(self._context)


def _plain(config: Any) -> Any:
    """A framework config as JSON-ready data (pydantic models dumped, others as given)."""
    dump = getattr(config, "model_dump", None)
    return dump(mode="json") if callable(dump) else config
