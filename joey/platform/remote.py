"""The SDK in remote mode: ``joey.Client(api_endpoint="http://...")`` (or ``JOEY_URL`` /
``WALLAROO_URL``) talks to a joey service (``python -m joey.service``) over its REST API.

The objects answer as the embedded SDK's do (workspaces, model versions, pipelines with
``deploy``/``infer``/``status``/``logs``/``undeploy``); inference goes over HTTP to the
pipeline's URL with the caller's bearer token, so it is checked as any client's.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa

from joey.config import Settings
from joey.errors import AuthenticationError, EntityNotFoundError, JoeyError, error_from_body
from joey.tables import read_body, write_body
from joey.tables.frames import dataframe_to_table, table_to_dataframe

API = "/v1/api"
ARROW = "application/vnd.apache.arrow.file"


class RemoteAuth:
    """``wl.auth``: the bearer header of the signed-in user."""

    def __init__(self, token: str) -> None:
        self._token = token

    def _bearer_token_str(self) -> str:
        return self._token

    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


class _Api:
    """POST JSON to the service; a JSON error body becomes the typed joey error."""

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)
        self.token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        answer = self._http.post(f"{self.endpoint}{API}/{path}", headers=self.headers(), **kwargs)
        return _answer(answer)


def _answer(answer: httpx.Response) -> Any:
    if answer.status_code < 400:
        return answer.json()
    try:
        body = answer.json()
    except ValueError:
        raise JoeyError(f"{answer.status_code}: {answer.text[:500]}") from None
    raise error_from_body(body)


class RemoteClient:
    """``joey.Client`` against a joey service."""

    def __init__(self, api_endpoint: str, auth_type: str | None, settings: Settings,
                 request_timeout: float | None = None) -> None:
        self.api_endpoint = api_endpoint.rstrip("/")
        self._settings = settings
        self._timeout_s = float(request_timeout or settings.request_timeout_s)
        self._api = _Api(self.api_endpoint, max(self._timeout_s, 120.0))
        self._api.token = _sign_in(self._api, auth_type, settings)
        self.auth = RemoteAuth(self._api.token)
        self._current: RemoteWorkspace | None = None

    # workspaces
    def list_workspaces(self) -> list[RemoteWorkspace]:
        return [RemoteWorkspace(self, w) for w in self._api.post("workspaces/list", {})["workspaces"]]

    def create_workspace(self, workspace_name: str) -> RemoteWorkspace:
        self._api.post("workspaces/create", {"workspace_name": workspace_name})
        return self.get_workspace(workspace_name)

    def get_workspace(self, name: str, create_if_not_exist: bool = False) -> RemoteWorkspace:
        found = next((w for w in self.list_workspaces() if w.name() == name), None)
        if found is not None:
            return found
        if create_if_not_exist:
            return self.create_workspace(name)
        raise EntityNotFoundError("workspace", name)

    def set_current_workspace(self, workspace: RemoteWorkspace) -> RemoteWorkspace:
        self._current = workspace
        return workspace

    def get_current_workspace(self) -> RemoteWorkspace:
        if self._current is None:
            mine = self.list_workspaces()
            if not mine:
                raise EntityNotFoundError("workspace", "(current)", "for this user: create_workspace() first")
            self._current = mine[0]
        return self._current

    # users
    def invite_user(self, email: str, password: str | None = None) -> dict[str, Any]:
        return dict(self._api.post("users/invite", {"email": email, "password": password}))

    def list_users(self) -> list[dict[str, Any]]:
        return list(self._api.post("users/query", {})["users"])

    # models
    def upload_model(self, name: str, path: str | Path, framework: Any = None,
                     input_schema: pa.Schema | None = None, output_schema: pa.Schema | None = None,
                     **_: Any) -> RemoteModelVersion:
        workspace = self.get_current_workspace()
        metadata: dict[str, Any] = {"name": name, "workspace_id": workspace.id(), "conversion": {}}
        if framework is not None:
            metadata["conversion"]["framework"] = str(getattr(framework, "value", framework))
        for key, schema in (("input_schema", input_schema), ("output_schema", output_schema)):
            if schema is not None:
                metadata[key] = base64.b64encode(schema.serialize().to_pybytes()).decode()
        path = Path(path)
        with path.open("rb") as stream:
            answer = self._api.post("models/upload_and_convert",
                                    data={"metadata": json.dumps(metadata)},
                                    files={"file": (path.name, stream, "application/octet-stream")})
        version = answer["model_version"]
        return RemoteModelVersion(version["name"], version["version"], version["sha"], version["runtime"],
                                  answer["insert_models"]["returning"][0]["models"][0]["id"])

    def get_model(self, name: str, version: str | None = None) -> RemoteModelVersion:
        workspace = self.get_current_workspace()
        versions = self._api.post("models/list_versions", {"workspace_id": workspace.id(), "name": name})["versions"]
        found = next((v for v in versions if version is None or v["version"] == version), None)
        if found is None:
            raise EntityNotFoundError("model", name, f"with the version {version}")
        return RemoteModelVersion(found["name"], found["version"], found["sha"], found["runtime"], found["id"])

    def list_models(self) -> list[dict[str, Any]]:
        return list(self._api.post("models/list", {"workspace_id": self.get_current_workspace().id()})["models"])

    # pipelines
    def build_pipeline(self, pipeline_name: str) -> RemotePipeline:
        return RemotePipeline(self, self.get_current_workspace(), pipeline_name)

    def get_pipeline(self, name: str) -> RemotePipeline:
        workspace = self.get_current_workspace()
        names = [p["name"] for p in self._api.post("pipelines/list", {"workspace_id": workspace.id()})["pipelines"]]
        if name not in names:
            raise EntityNotFoundError("pipeline", name, "in this workspace")
        return RemotePipeline(self, workspace, name)

    def list_pipelines(self) -> list[RemotePipeline]:
        workspace = self.get_current_workspace()
        found = self._api.post("pipelines/list", {"workspace_id": workspace.id()})["pipelines"]
        return [RemotePipeline(self, workspace, p["name"]) for p in found]


class RemoteWorkspace:
    def __init__(self, client: RemoteClient, row: dict[str, Any]) -> None:
        self._client = client
        self._row = row

    def id(self) -> int:
        return int(self._row["id"])

    def name(self) -> str:
        return str(self._row["name"])

    def archived(self) -> bool:
        return bool(self._row["archived"])

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

    def to_dict(self) -> dict[str, Any]:
        return dict(self._row)

    def __repr__(self) -> str:
        return repr(self.to_dict())


class RemoteModelVersion:
    def __init__(self, name: str, version: str, sha: str, runtime: str, version_id: int) -> None:
        self._ref = {"name": name, "version": version, "sha": sha}
        self._runtime = runtime
        self._id = version_id

    def id(self) -> int:
        return self._id

    def name(self) -> str:
        return self._ref["name"]

    def version(self) -> str:
        return self._ref["version"]

    def sha(self) -> str:
        return self._ref["sha"]

    def runtime(self) -> str:
        return self._runtime

    def ref(self) -> dict[str, str]:
        return dict(self._ref)


class RemotePipeline:
    """A pipeline of the service; steps added here are sent with the next ``deploy``."""

    def __init__(self, client: RemoteClient, workspace: RemoteWorkspace, name: str) -> None:
        self._client = client
        self._workspace = workspace
        self._name = name
        self._steps: list[dict[str, Any]] = []

    def name(self) -> str:
        return self._name

    def _ref(self) -> dict[str, Any]:
        return {"workspace_id": self._workspace.id(), "pipeline_id": self._name}

    def add_model_step(self, model_version: RemoteModelVersion) -> RemotePipeline:
        self._steps.append({"ModelInference": {"models": [model_version.ref()]}})
        return self

    def deploy(self, pipeline_name: str | None = None, deployment_config: Any = None) -> RemotePipeline:
        """Send the steps added here (a new version), then deploy with ``deployment_config``
        (``DeploymentConfigBuilder().build()``)."""
        del pipeline_name  # Wallaroo's argument: the pipeline keeps its name
        api = self._client._api
        if self._steps:
            api.post("pipelines/create", {**self._ref(), "definition": {"steps": self._steps}})
        body = {**self._ref()}
        if deployment_config is not None:
            body["deployment_config"] = deployment_config.model_dump(mode="json")
        self._url = str(api.post("pipelines/deploy", body)["url"])
        return self

    def undeploy(self) -> RemotePipeline:
        self._client._api.post("pipelines/undeploy", self._ref())
        return self

    def status(self) -> dict[str, Any]:
        return dict(self._client._api.post("status/get_deployment", self._ref()))

    def url(self) -> str:
        return getattr(self, "_url", None) or str(self._client._api.post("pipelines/url", self._ref())["url"])

    def logs(self, limit: int = 100) -> pd.DataFrame:
        records = self._client._api.post("pipelines/get_logs", {**self._ref(), "limit": limit})["records"]
        return pd.DataFrame.from_records(records)

    def infer(self, tensor: pd.DataFrame | pa.Table, timeout: float | None = None) -> pd.DataFrame | pa.Table:
        """Over HTTP with the caller's token: Arrow in, the flat result table out."""
        table = tensor if isinstance(tensor, pa.Table) else dataframe_to_table(tensor)
        body, _ = write_body(table, "arrow")
        answer = httpx.post(self.url(), content=body, params={"dataset.separator": "."},
                            headers={**self._client.auth.auth_header(), "Content-Type": ARROW, "Accept": ARROW},
                            timeout=timeout or self._client._timeout_s)
        if answer.status_code >= 400:
            _answer(answer)
        result = read_body(answer.content, "arrow")
        return result if isinstance(tensor, pa.Table) else table_to_dataframe(result)


def _sign_in(api: _Api, auth_type: str | None, settings: Settings) -> str:
    """A bearer token: ``token`` (``JOEY_TOKEN``), else ``user_password`` (``JOEY_USER`` /
    ``JOEY_PASSWORD``, or Wallaroo's ``WALLAROO_USER`` / ``WALLAROO_PASSWORD``)."""
    if auth_type in (None, "token") and settings.token is not None:
        return settings.token.get_secret_value()
    if auth_type in (None, "user_password") and settings.user and settings.password is not None:
        return str(api.post("auth/login", {"email": settings.user,
                                           "password": settings.password.get_secret_value()})["access_token"])
    raise AuthenticationError(f"auth_type={auth_type!r} needs JOEY_TOKEN, or JOEY_USER and JOEY_PASSWORD "
                              "(WALLAROO_USER and WALLAROO_PASSWORD)")
