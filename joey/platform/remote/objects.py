"""The embedded SDK's objects over the service: each is the embedded class, built from the rows
the service answers, with the methods that reach the store or Ray going over HTTP instead."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, cast

import httpx
import pyarrow as pa

from joey.autoscaling import DeploymentConfig
from joey.errors import NotSupportedRemotelyError, PipelineNotDeployedError
from joey.platform.context import Context
from joey.platform.listing import DEFAULT_TIME_FORMAT
from joey.platform.models import Model, ModelVersion
from joey.platform.pipeline import Pipeline, PipelineVersion
from joey.platform.remote.api import ARROW, answer_of
from joey.platform.store.rows import (
    ModelRow,
    ModelVersionRow,
    PipelineRow,
    PipelineVersionRow,
    WorkspaceRow,
    row_from_json,
)
from joey.platform.workspace import Workspace
from joey.tables import read_body, write_body

if TYPE_CHECKING:
    import pandas as pd

    from joey.platform.remote.client import RemoteClient


class NoStore:
    """Where an embedded object keeps its ``Context``: a remote object has none, so a method
    not carried over to the service says so instead of failing somewhere inside."""

    time_format = DEFAULT_TIME_FORMAT

    def __init__(self, owner: str) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> NoReturn:
        raise NotSupportedRemotelyError(f"{self._owner} (it reads the store's {name!r})")


def no_store(owner: str) -> Context:
    return cast(Context, NoStore(owner))


def schema_b64(schema: pa.Schema | None) -> str | None:
    """Wallaroo's ``base64(schema.serialize())``."""
    return None if schema is None else base64.b64encode(schema.serialize().to_pybytes()).decode()


class RemoteWorkspace(Workspace):
    """A workspace of the service (``Workspace``); members are managed here."""

    def __init__(self, client: RemoteClient, data: dict[str, Any]) -> None:
        super().__init__(no_store("Workspace"), row_from_json(WorkspaceRow, data))
        self._client = client
        self._data = data

    def models(self) -> list[Model]:
        found = self._client._api.post("models/list", {"workspace_id": self.id()})["models"]
        return [RemoteModel(self._client, m) for m in found]

    def pipelines(self) -> list[Any]:
        found = self._client._api.post("pipelines/list", {"workspace_id": self.id()})["pipelines"]
        return [self._client._pipeline(self, "pipelines/get", p["name"]) for p in found]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name(), "id": self.id(), "archived": self.archived(),
                "created_at": self.created_at().isoformat(), "models": list(self._data.get("model_names", [])),
                "pipelines": list(self._data.get("pipeline_names", []))}

    # members (the service's own: embedded mode has no users)
    def users(self) -> list[dict[str, Any]]:
        return list(self._client._api.post("workspaces/list_users", {"workspace_id": self.id()})["users"])

    def add_user(self, user_email: str) -> RemoteWorkspace:
        self._client._api.post("workspaces/add_user", {"workspace_id": self.id(), "email": user_email})
        return self

    def add_owner(self, user_email: str) -> RemoteWorkspace:
        self._client._api.post("workspaces/add_user", {"workspace_id": self.id(), "email": user_email,
                                                       "user_type": "OWNER"})
        return self

    def remove_user(self, user_email: str) -> RemoteWorkspace:
        self._client._api.post("workspaces/remove_user", {"workspace_id": self.id(), "email": user_email})
        return self


class RemoteModelVersion(ModelVersion):
    """A model version of the service (``ModelVersion``)."""

    def __init__(self, client: RemoteClient, data: dict[str, Any]) -> None:
        super().__init__(no_store("ModelVersion"), row_from_json(ModelVersionRow, data))
        self._client = client

    def workspace(self) -> Any:
        return self._client._workspace_by_id(self._row.workspace_id)

    def configure(self, runtime: str | None = None, tensor_fields: list[str] | None = None,
                  filter_threshold: float | None = None, input_schema: pa.Schema | None = None,
                  output_schema: pa.Schema | None = None, batch_config: str | None = None,
                  dynamic_batching_config: Any = None, continuous_batching_config: Any = None,
                  openai_config: Any = None) -> ModelVersion:
        """As embedded: the service configures the version and answers it."""
        if continuous_batching_config is not None or openai_config is not None:
            raise NotSupportedRemotelyError("ModelVersion.configure(continuous_batching_config/openai_config)")
        batching = dynamic_batching_config
        if batching is not None and hasattr(batching, "model_dump"):
            batching = batching.model_dump()
        answer = self._client._api.post("models/configure", {
            "workspace_id": self._row.workspace_id, "name": self.name(), "version": self.version(),
            "runtime": None if runtime is None else str(runtime), "tensor_fields": tensor_fields,
            "filter_threshold": filter_threshold, "input_schema": schema_b64(input_schema),
            "output_schema": schema_b64(output_schema), "batch_config": batch_config,
            "dynamic_batching_config": batching})
        self._row = row_from_json(ModelVersionRow, answer["model_version"])
        return self


class RemoteModel(Model):
    """A model name of the service and its versions (``Model``)."""

    def __init__(self, client: RemoteClient, data: dict[str, Any]) -> None:
        super().__init__(no_store("Model"), row_from_json(ModelRow, data))
        self._client = client

    def versions(self) -> list[ModelVersion]:
        return self._client._model_versions(self._row.workspace_id, self.name())


class RemotePipeline(Pipeline):
    """A pipeline of the service (``Pipeline``): steps are edited here, as embedded, and saved
    and deployed by the service."""

    def __init__(self, client: RemoteClient, workspace: RemoteWorkspace, data: dict[str, Any]) -> None:
        version = data.get("version")
        super().__init__(no_store("Pipeline"), workspace._row, row_from_json(PipelineRow, data["pipeline"]),
                         None if version is None else row_from_json(PipelineVersionRow, version))
        self._client = client
        self._remote_workspace = workspace

    def _ref(self) -> dict[str, Any]:
        return {"workspace_id": self._workspace.id, "pipeline_id": self.name()}

    def workspace(self) -> Any:
        return self._remote_workspace

    def versions(self) -> list[PipelineVersion]:
        answer = self._client._api.post("pipelines/get", self._ref())
        return [PipelineVersion(self, row_from_json(PipelineVersionRow, v)) for v in answer["versions"]]

    def kuberay_manifest(self, image: str | None = None,
                         deployment_config: DeploymentConfig | None = None) -> dict[str, Any]:
        del image, deployment_config
        raise NotSupportedRemotelyError("Pipeline.kuberay_manifest")

    def create_version(self) -> PipelineVersion:
        answer = self._client._api.post("pipelines/create", {**self._ref(), "definition": {"steps": self._steps}})
        self._version = row_from_json(PipelineVersionRow, answer["version"])
        return PipelineVersion(self, self._version)

    def deploy(self, pipeline_name: str | None = None, deployment_config: DeploymentConfig | None = None,
               wait_for_status: bool = True) -> Pipeline:
        """Save the steps edited here as a version when they changed, then the service deploys
        it (and waits for it to run) with ``deployment_config``."""
        del pipeline_name, wait_for_status  # the pipeline keeps its name; the service always waits
        if not self._steps:
            from joey.platform.spec_builder import no_steps_error

            raise no_steps_error(self.name())
        body = {**self._ref(), "version": self._current_version().version}  # this version: a rollback too
        if deployment_config is not None:
            body["deployment_config"] = deployment_config.model_dump(mode="json")
        self._url = str(self._client._api.post("pipelines/deploy", body)["url"])
        return self

    def undeploy(self) -> Pipeline:
        self._client._api.post("pipelines/undeploy", self._ref())
        return self

    def status(self) -> dict[str, Any]:
        return dict(self._client._api.post("status/get_deployment", self._ref()))

    def url(self) -> str:
        url = getattr(self, "_url", None)
        if url is None:
            url = self._url = str(self._client._api.post("pipelines/url", self._ref())["url"])
        return url

    def _call(self, table: pa.Table, timeout: float | None, dataset: list[str] | None,
              exclude: list[str] | None, separator: str) -> pa.Table:
        """Over HTTP with the caller's token: Arrow in, the flat result table out."""
        from joey.tables.results import DatasetFilter

        wanted = DatasetFilter.for_sdk(dataset, exclude)  # the SDK's defaults, as embedded
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("dataset.separator", separator), *(("dataset[]", d) for d in wanted.include),
            *(("dataset.exclude[]", d) for d in wanted.exclude)]
        body, _ = write_body(table, "arrow")
        answer = httpx.post(self.url(), content=body, params=params,
                            headers={**self._client.auth.auth_header(), "Content-Type": ARROW, "Accept": ARROW},
                            timeout=timeout if timeout is not None else self._client._timeout_s)
        if answer.status_code == 404 and "kind" not in answer.text:
            raise PipelineNotDeployedError(self.name())  # the proxy knows no such route
        return read_body(answer_of(answer).content, "arrow")

    def logs(self, limit: int | None = None, start_datetime: datetime | None = None,
             end_datetime: datetime | None = None, valid: bool | None = None,
             dataset: list[str] | None = None, dataset_exclude: list[str] | None = None,
             dataset_separator: str | None = None, arrow: bool | None = False) -> pd.DataFrame | pa.Table:
        """As embedded: the service reads the log and answers the Arrow table itself."""
        answer = self._client._api.post_raw("pipelines/get_logs", {
            **self._ref(), "limit": limit, "valid": valid, "dataset": dataset, "dataset_exclude": dataset_exclude,
            "dataset_separator": dataset_separator, "arrow": True,
            "start_datetime": None if start_datetime is None else start_datetime.isoformat(),
            "end_datetime": None if end_datetime is None else end_datetime.isoformat()})
        table = pa.ipc.open_file(pa.py_buffer(answer.content)).read_all()  # no rows is an answer here
        if arrow:
            return table
        from joey.tables.frames import table_to_dataframe

        return table_to_dataframe(table)

    def export_logs(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs
        raise NotSupportedRemotelyError("Pipeline.export_logs")

    def metrics(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        from joey.platform import logs

        if start is not None and end is not None:
            logs.check_range(start, end)
        answer = dict(self._client._api.post("pipelines/metrics", {
            **self._ref(), "start": None if start is None else start.isoformat(),
            "end": None if end is None else end.isoformat()}))
        return {**answer, "start": datetime.fromisoformat(answer["start"]),
                "end": datetime.fromisoformat(answer["end"])}

    def table_row(self) -> dict[str, Any]:
        from joey.platform import steps as step_json

        return {"name": self.name(), "created": self.create_time(), "last_updated": self.last_update_time(),
                "deployed": self.status()["status"] != "Unavailable",
                "versions": [v.name() for v in self.versions()],
                "steps": list(dict.fromkeys(n for step in self._steps for n in step_json.model_names(step)))}
