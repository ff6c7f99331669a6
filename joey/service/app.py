"""The FastAPI app: Wallaroo's MLOps paths where the reference shows them (``POST /v1/api/...``,
JSON bodies, bearer auth), joey's own elsewhere; OpenAPI at ``/v1/api/docs``.

Every request but login carries a bearer token. A workspace the caller is not in answers 404,
as one that does not exist, so nothing of another workspace leaks; a collaborator asking for
an owner's action answers 403.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from joey.autoscaling import DeploymentConfig
from joey.config import Settings
from joey.errors import (
    ConflictError,
    DeploymentError,
    EntityNotFoundError,
    JoeyError,
    ModelUploadError,
    PermissionDeniedError,
    PipelineConfigError,
)
from joey.platform import steps as step_json
from joey.platform.accounts import COLLABORATOR, OWNER, Accounts, Principal
from joey.platform.client import Client
from joey.platform.context import Context
from joey.platform.pipeline import Pipeline
from joey.platform.quotas import check_version
from joey.platform.store import WorkspaceRow
from joey.platform.store.rows import row_to_json
from joey.platform.workspace import Workspace
from joey.service.auth import API, Caller, TokenCache
from joey.service.quotas_api import quota_routes
from joey.tables.codec import write_body

CHUNK = 1 << 20
MAX_TOKEN_LIFETIME_S = 10 * 366 * 24 * 3600

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""A store id: what SQL's BIGINT holds (a larger number would fail in the store, not here)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(_Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class TokenCreate(_Body):
    name: str = Field(default="api", max_length=255)
    expires_in_s: int | None = Field(default=None, gt=0, le=MAX_TOKEN_LIFETIME_S)


class InferenceCheck(_Body):
    workspace: str = Field(max_length=255)


class TokenRevoke(_Body):
    token_id: Id


class Invite(_Body):
    email: str = Field(max_length=320)
    password: str | None = Field(default=None, max_length=1024)


class WorkspaceCreate(_Body):
    workspace_name: str = Field(max_length=255)


class WorkspaceRef(_Body):
    workspace_id: Id


class Member(_Body):
    workspace_id: Id
    email: str = Field(max_length=320)
    user_type: str = COLLABORATOR


class PipelineRef(_Body):
    workspace_id: Id
    pipeline_id: str = Field(max_length=255, description="the pipeline's name")


class PipelineCreate(PipelineRef):
    definition: dict[str, Any]


class Deploy(PipelineRef):
    version: str | None = Field(default=None, max_length=255, description="the version (default: the newest)")
    deployment_config: DeploymentConfig | None = Field(
        default=None, description="joey's DeploymentConfig (DeploymentConfigBuilder().build()) as JSON")


class ModelRef(WorkspaceRef):
    name: str = Field(max_length=255)


class PipelineGet(PipelineRef):
    version: str | None = Field(default=None, max_length=255, description="a version (default: the newest)")


class LogsQuery(PipelineRef):
    limit: int | None = Field(default=100, gt=0, le=100_000)
    start_datetime: datetime | None = None
    end_datetime: datetime | None = None
    valid: bool | None = None
    dataset: list[Annotated[str, Field(max_length=255)]] | None = Field(default=None, max_length=64)
    dataset_exclude: list[Annotated[str, Field(max_length=255)]] | None = Field(default=None, max_length=64)
    dataset_separator: str | None = Field(default=None, max_length=8)
    arrow: bool = Field(default=False, description="answer an Arrow IPC file instead of JSON records")


class MetricsQuery(PipelineRef):
    start: datetime | None = None
    end: datetime | None = None


class ModelConfigure(ModelRef):
    version: str = Field(max_length=255)
    runtime: str | None = Field(default=None, max_length=64)
    tensor_fields: list[Annotated[str, Field(max_length=255)]] | None = Field(default=None, max_length=1024)
    filter_threshold: float | None = None
    input_schema: str | None = Field(default=None, description="base64 of a serialized Arrow schema")
    output_schema: str | None = Field(default=None, description="base64 of a serialized Arrow schema")
    batch_config: str | None = Field(default=None, max_length=64)
    dynamic_batching_config: dict[str, Any] | None = None


class UploadMetadata(_Body):
    name: str = Field(max_length=255)
    workspace_id: Id
    conversion: dict[str, Any] = Field(default_factory=dict)
    input_schema: str | None = None
    output_schema: str | None = None
    visibility: str | None = None


def create_app(settings: Settings) -> FastAPI:
    """The service over ``settings``' store; creates the first admin when asked to."""
    base = Context(settings, interactive=False)
    accounts = Accounts(base.store, settings.quotas)
    if settings.admin_email and settings.admin_password:
        accounts.ensure_admin(settings.admin_email, settings.admin_password.get_secret_value())
    tokens = TokenCache(accounts, settings.service_auth_cache_s)
    app = FastAPI(title="joey", description=__doc__, docs_url=f"{API}/docs", openapi_url=f"{API}/openapi.json",
                  redoc_url=None)

    @app.exception_handler(JoeyError)
    async def _joey_error(_: Request, exc: JoeyError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in exc.errors())
        body = {"code": 400, "status": "error", "error": problems, "source": "platform", "kind": "JoeyError"}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own answers (an unknown path, a wrong method) in the same shape."""
        body = {"code": exc.status_code, "status": "error", "error": f"{exc.detail}: {request.method} {request.url.path}",
                "source": "platform", "kind": "JoeyError"}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        """A bug: the same JSON shape, without the exception's text (uvicorn logs the traceback)."""
        body = {"code": 500, "status": "error", "error": f"internal error ({type(exc).__name__})",
                "source": "platform", "kind": "JoeyError"}
        return JSONResponse(body, status_code=500)

    app.state.tokens = tokens
    from joey.service.dashboard import mount  # the web dashboard, under /dashboard/
    mount(app, base, accounts, tokens)
    app.include_router(quota_routes(base))

    def client_of(caller: Principal) -> Client:
        return Client._bound(base.acting(caller.email))

    def workspace(caller: Principal, workspace_id: int, write: bool = False) -> WorkspaceRow:
        row = base.store.get_workspace_by_id(workspace_id)
        if row is None:
            raise EntityNotFoundError("workspace", str(workspace_id))
        accounts.check_member(caller, row.id, str(workspace_id))
        if write and row.archived:
            raise PermissionDeniedError("change workspace", f"workspace {row.name!r} is archived (read-only)")
        return row

    def in_workspace(caller: Principal, workspace_id: int, write: bool = False) -> Client:
        row = workspace(caller, workspace_id, write)
        client = client_of(caller)
        client.set_current_workspace(Workspace(client._context, row))
        return client

    # -- auth and tokens -------------------------------------------------------------------

    @app.post(f"{API}/auth/login", tags=["auth"])
    def login(body: Login) -> dict[str, Any]:
        """A bearer token for email and password (``Client(auth_type="user_password")``)."""
        issued = accounts.login(body.email, body.password)
        return {"access_token": issued.token, "token_type": "bearer", "token_id": issued.id,
                "expires_at": issued.expires_at.isoformat() if issued.expires_at else None}

    @app.post(f"{API}/auth/whoami", tags=["auth"])
    def whoami(caller: Caller) -> dict[str, Any]:
        return {"user_id": caller.user_id, "email": caller.email, "is_admin": caller.is_admin}

    @app.post(f"{API}/auth/check_inference", tags=["auth"])
    def check_inference(body: InferenceCheck, caller: Caller) -> dict[str, Any]:
        """Whether the caller may infer on the workspace's pipelines (asked by the ingress)."""
        row = base.store.get_workspace(body.workspace)
        if row is None or not (caller.is_admin or accounts.role(caller, row.id)):
            raise PermissionDeniedError("infer", "the token's user is not in this pipeline's workspace")
        return {"email": caller.email}

    @app.post(f"{API}/tokens/create", tags=["auth"])
    def create_token(body: TokenCreate, caller: Caller) -> dict[str, Any]:
        """A new API token, shown this once (the store keeps its hash only)."""
        lifetime = timedelta(seconds=body.expires_in_s) if body.expires_in_s else None
        issued = accounts.create_token(caller, body.name, lifetime)
        base.acting(caller.email).audit("token.create", "token", body.name, object_id=issued.id)
        return {"token_id": issued.id, "token": issued.token, "name": issued.name,
                "expires_at": issued.expires_at.isoformat() if issued.expires_at else None}

    @app.post(f"{API}/tokens/list", tags=["auth"])
    def list_tokens(caller: Caller) -> dict[str, Any]:
        return {"tokens": [_token(t) for t in accounts.tokens(caller)]}

    @app.post(f"{API}/tokens/revoke", tags=["auth"])
    def revoke_token(body: TokenRevoke, caller: Caller) -> dict[str, Any]:
        accounts.revoke_token(caller, body.token_id)
        base.acting(caller.email).audit("token.revoke", "token", str(body.token_id), object_id=body.token_id)
        return {}

    # -- users -----------------------------------------------------------------------------

    @app.post(f"{API}/users/invite", tags=["users"])
    def invite(body: Invite, caller: Caller) -> dict[str, Any]:
        user = accounts.invite_user(caller, body.email, body.password)
        base.acting(caller.email).audit("user.invite", "user", user.email, object_id=user.id)
        return {"user_id": user.id, "email": user.email}

    @app.post(f"{API}/users/query", tags=["users"])
    def users(caller: Caller) -> dict[str, Any]:
        """Every user for an admin; else the caller and the members of the caller's workspaces."""
        store = base.store.accounts
        visible = accounts.workspace_ids(caller)
        if visible is None:
            found = store.list_users()
        else:
            ids = {caller.user_id} | {m.user_id for w in visible for m in store.members(w)}
            found = [u for u in store.list_users() if u.id in ids]
        return {"users": [{"id": u.id, "email": u.email, "is_admin": u.is_admin, "active": u.active}
                          for u in found]}

    # -- workspaces ------------------------------------------------------------------------

    @app.post(f"{API}/workspaces/list", tags=["workspaces"])
    def list_workspaces(caller: Caller) -> dict[str, Any]:
        """The caller's workspaces only."""
        visible = accounts.workspace_ids(caller)
        rows = [w for w in base.store.list_workspaces() if visible is None or w.id in visible]
        return {"workspaces": [_workspace(base, w) for w in rows]}

    @app.post(f"{API}/workspaces/create", tags=["workspaces"])
    def create_workspace(body: WorkspaceCreate, caller: Caller) -> dict[str, Any]:
        """A new workspace whose owner is the caller."""
        if base.store.get_workspace(body.workspace_name) is not None:
            raise ConflictError(f"workspace_name: workspace {body.workspace_name!r} already exists")
        created = client_of(caller).create_workspace(body.workspace_name)
        accounts.set_role(created.id(), caller.email, OWNER)
        return {"workspace_id": created.id()}

    @app.post(f"{API}/workspaces/add_user", tags=["workspaces"])
    def add_user(body: Member, caller: Caller) -> dict[str, Any]:
        row = workspace(caller, body.workspace_id, write=True)
        accounts.check_owner(caller, row.id, str(row.id), "add users")
        accounts.set_role(row.id, body.email, body.user_type.upper())
        base.acting(caller.email).audit("workspace.add_user", "workspace", row.name, workspace_id=row.id,
                                        object_id=row.id, email=body.email, role=body.user_type.upper())
        return {}

    @app.post(f"{API}/workspaces/remove_user", tags=["workspaces"])
    def remove_user(body: Member, caller: Caller) -> dict[str, Any]:
        row = workspace(caller, body.workspace_id, write=True)
        accounts.check_owner(caller, row.id, str(row.id), "remove users")
        accounts.remove(row.id, body.email)
        base.acting(caller.email).audit("workspace.remove_user", "workspace", row.name, workspace_id=row.id,
                                        object_id=row.id, email=body.email)
        return {"affected_rows": 1}

    @app.post(f"{API}/workspaces/archive", tags=["workspaces"])
    def archive(body: WorkspaceRef, caller: Caller) -> dict[str, Any]:
        """Make the workspace read-only (owners): nothing in it may be created or changed."""
        row = workspace(caller, body.workspace_id, write=True)
        accounts.check_owner(caller, row.id, str(row.id), "archive the workspace")
        base.store.set_workspace_archived(row.id, True)
        base.acting(caller.email).audit("workspace.archive", "workspace", row.name, workspace_id=row.id,
                                        object_id=row.id)
        return {}

    @app.post(f"{API}/workspaces/list_users", tags=["workspaces"])
    def list_users(body: WorkspaceRef, caller: Caller) -> dict[str, Any]:
        row = workspace(caller, body.workspace_id)
        return {"users": [{"user_id": m.user_id, "email": m.email, "user_type": m.role}
                          for m in base.store.accounts.members(row.id)]}

    # -- models ----------------------------------------------------------------------------

    @app.post(f"{API}/models/upload_and_convert", status_code=202, tags=["models"])
    def upload_and_convert(caller: Caller, metadata: Annotated[str, Form()],
                           file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        """Wallaroo's multipart upload: part ``metadata`` (JSON) and part ``file``, streamed to disk."""
        try:
            meta = UploadMetadata.model_validate_json(metadata)
        except ValidationError as exc:
            problems = "; ".join(_problem(e, "metadata") for e in exc.errors())
            raise ModelUploadError(problems) from exc
        client = in_workspace(caller, meta.workspace_id, write=True)
        with _received(file, settings.service_max_upload_bytes) as path:
            version = client.upload_model(
                meta.name, path, framework=meta.conversion.get("framework"),
                input_schema=_schema(meta.input_schema, "input_schema"),
                output_schema=_schema(meta.output_schema, "output_schema"))
        return {"insert_models": {"returning": [{"models": [{"id": version.id()}]}]},
                "model_version": _version(version._row)}

    @app.post(f"{API}/models/list_versions", tags=["models"])
    def list_versions(body: ModelRef, caller: Caller) -> dict[str, Any]:
        """The model's versions, newest first."""
        row = workspace(caller, body.workspace_id)
        versions = base.store.list_model_versions(row.id, body.name)
        if not versions:
            raise EntityNotFoundError("model", body.name, "in this workspace")
        return {"versions": [_version(v) for v in versions]}

    @app.post(f"{API}/models/configure", tags=["models"])
    def configure(body: ModelConfigure, caller: Caller) -> dict[str, Any]:
        """``model.configure(...)``: the configured version."""
        client = in_workspace(caller, body.workspace_id, write=True)
        version = client.get_model(body.name, body.version).configure(
            runtime=body.runtime, tensor_fields=body.tensor_fields, filter_threshold=body.filter_threshold,
            input_schema=_schema(body.input_schema, "input_schema"),
            output_schema=_schema(body.output_schema, "output_schema"), batch_config=body.batch_config,
            dynamic_batching_config=body.dynamic_batching_config)
        return {"model_version": _version(version._row)}

    @app.post(f"{API}/models/list", tags=["models"])
    def list_models(body: WorkspaceRef, caller: Caller) -> dict[str, Any]:
        row = workspace(caller, body.workspace_id)
        return {"models": [{**row_to_json(m), "versions": m.version_count,
                            "last_update_time": m.updated_at.isoformat()}
                           for m in base.store.list_models(row.id)]}

    # -- pipelines -------------------------------------------------------------------------

    @app.post(f"{API}/pipelines/create", tags=["pipelines"])
    def create_pipeline(body: PipelineCreate, caller: Caller) -> dict[str, Any]:
        """A pipeline (or a new version of it) with Wallaroo's ``definition: {"steps": [...]}``."""
        client = in_workspace(caller, body.workspace_id, write=True)
        steps = body.definition.get("steps")
        if not isinstance(steps, list) or not steps:
            raise PipelineConfigError(f"definition.steps: expected a non-empty list, got {type(steps).__name__}")
        _check_steps(base, body.workspace_id, steps)
        check_version(base, body.pipeline_id, steps)
        pipeline = client.build_pipeline(body.pipeline_id)
        version = base.store.add_pipeline_version(pipeline._row.id, steps)
        base.acting(caller.email).audit("pipeline.create", "pipeline", body.pipeline_id,
                                        workspace_id=body.workspace_id, object_id=pipeline._row.id,
                                        version=version.version)
        return {"pipeline_pk_id": pipeline._row.id, "pipeline_variant_pk_id": version.id,
                "pipeline_variant_version": version.version, "pipeline": row_to_json(pipeline._row),
                "version": row_to_json(version)}

    @app.post(f"{API}/pipelines/build", tags=["pipelines"])
    def build_pipeline(body: PipelineRef, caller: Caller) -> dict[str, Any]:
        """``build_pipeline(name)``: the pipeline, created when new, with its newest version."""
        return _pipeline(in_workspace(caller, body.workspace_id, write=True).build_pipeline(body.pipeline_id))

    @app.post(f"{API}/pipelines/get", tags=["pipelines"])
    def get_pipeline(body: PipelineGet, caller: Caller) -> dict[str, Any]:
        """The pipeline with one version (default the newest) and the list of its versions."""
        return _pipeline(in_workspace(caller, body.workspace_id).get_pipeline(body.pipeline_id, body.version))

    @app.post(f"{API}/pipelines/deploy", tags=["pipelines"])
    def deploy(body: Deploy, caller: Caller) -> dict[str, Any]:
        pipeline = in_workspace(caller, body.workspace_id, write=True).get_pipeline(body.pipeline_id, body.version)
        try:
            pipeline.deploy(deployment_config=body.deployment_config)
        except JoeyError:
            raise
        except Exception as exc:  # Ray or Serve failing under the service: say so, not a bare 500
            raise DeploymentError(body.pipeline_id, f"{type(exc).__name__}: {str(exc)[:500]}") from exc
        deployment = base.store.active_deployment(pipeline._row.id)
        return {"id": deployment.id if deployment else None, "url": pipeline.url()}

    @app.post(f"{API}/pipelines/url", tags=["pipelines"])
    def url(body: PipelineRef, caller: Caller) -> dict[str, Any]:
        """The pipeline's HTTP inference URL (answers with a bearer token of a member)."""
        return {"url": in_workspace(caller, body.workspace_id).get_pipeline(body.pipeline_id).url()}

    @app.post(f"{API}/pipelines/undeploy", tags=["pipelines"])
    def undeploy(body: PipelineRef, caller: Caller) -> dict[str, Any]:
        in_workspace(caller, body.workspace_id, write=True).get_pipeline(body.pipeline_id).undeploy()
        return {}

    @app.post(f"{API}/status/get_deployment", tags=["pipelines"])
    def status(body: PipelineRef, caller: Caller) -> dict[str, Any]:
        return in_workspace(caller, body.workspace_id).get_pipeline(body.pipeline_id).status()

    @app.post(f"{API}/pipelines/list", tags=["pipelines"])
    def list_pipelines(body: WorkspaceRef, caller: Caller) -> dict[str, Any]:
        row = workspace(caller, body.workspace_id)
        return {"pipelines": [row_to_json(p) for p in base.store.list_pipelines(row.id)]}

    @app.post(f"{API}/pipelines/get_logs", tags=["pipelines"])
    def logs(body: LogsQuery, caller: Caller) -> Any:
        """``pipeline.logs(...)``: JSON records, or with ``arrow`` the Arrow table itself."""
        pipeline = in_workspace(caller, body.workspace_id).get_pipeline(body.pipeline_id)
        table = pipeline.logs(limit=body.limit, start_datetime=body.start_datetime, end_datetime=body.end_datetime,
                              valid=body.valid, dataset=body.dataset, dataset_exclude=body.dataset_exclude,
                              dataset_separator=body.dataset_separator, arrow=True)
        if body.arrow:
            return Response(write_body(table, "arrow")[0], media_type="application/vnd.apache.arrow.file")
        return {"records": json.loads(write_body(table, "json")[0])}

    @app.post(f"{API}/pipelines/metrics", tags=["pipelines"])
    def metrics(body: MetricsQuery, caller: Caller) -> dict[str, Any]:
        """``pipeline.metrics(start, end)``: requests, rates and latency from the inference log."""
        pipeline = in_workspace(caller, body.workspace_id).get_pipeline(body.pipeline_id)
        return dict(_plain(pipeline.metrics(body.start, body.end)))

    @app.post(f"{API}/audit/list", tags=["audit"])
    def audit(body: WorkspaceRef, caller: Caller) -> dict[str, Any]:
        row = workspace(caller, body.workspace_id)
        return {"events": [_plain(asdict(e)) for e in base.store.list_audit_events(workspace_id=row.id)]}

    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the service under uvicorn until interrupted; its own URL is where it listens unless
    ``JOEY_SERVICE_URL`` says otherwise (the pipelines it deploys check tokens there)."""
    import uvicorn

    if not settings.service_url:
        settings = settings.model_copy(update={"service_url": f"http://{host}:{port}"})
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)


def _problem(error: Any, part: str | None = None) -> str:
    """One request validation error: the field, what was expected, and what was sent (the
    body's fields are named as they are; a multipart part's fields as ``part.field``)."""
    where = part or "body"
    if error.get("type") == "json_invalid":
        return f"{where}: expected JSON ({error.get('msg')})"
    loc = [str(p) for p in error["loc"][0 if part else 1:]]
    field = ".".join([part, *loc] if part else loc) or where
    sent = error.get("input")
    got = f" (got {type(sent).__name__})" if sent is not None and error.get("type") != "missing" else ""
    return f"{field}: {error['msg']}{got}"


_STEP_KINDS = (step_json.MODEL_INFERENCE, step_json.RANDOM_SPLIT, step_json.KEY_SPLIT, step_json.AUDIT,
               step_json.MULTI_OUT, step_json.CHECK)


def _check_steps(context: Context, workspace_id: int, steps: list[Any]) -> None:
    """Wallaroo's step list as deploy reads it, each model a version of this workspace (so a
    definition deploy cannot read is refused before anything is stored)."""
    for index, step in enumerate(steps):
        where = f"definition.steps[{index}]"
        if not isinstance(step, dict) or len(step) != 1:
            raise PipelineConfigError(f"{where}: expected an object with one key, one of {list(_STEP_KINDS)}")
        (kind, body), = step.items()
        if kind not in _STEP_KINDS:
            raise PipelineConfigError(f"{where}: unknown step {kind!r}; expected one of {list(_STEP_KINDS)}")
        if not isinstance(body, dict):
            raise PipelineConfigError(f"{where}.{kind}: expected an object, got {type(body).__name__}")
        try:
            refs = _model_refs(kind, body)
        except (KeyError, TypeError, AttributeError) as exc:
            raise PipelineConfigError(f"{where}.{kind}: malformed ({type(exc).__name__}: {exc})") from exc
        for ref in refs:
            if not isinstance(ref, dict) or not all(isinstance(ref.get(k), str) for k in ("name", "version")):
                raise PipelineConfigError(f"{where}.{kind}: a model is {{\"name\", \"version\", \"sha\"}}, "
                                          f"got {ref!r}")
            row = context.store.get_model_version(workspace_id, ref["name"], ref["version"])
            if row is None or ref.get("sha", row.sha) != row.sha:
                raise EntityNotFoundError("model", ref["name"],
                                          f"with the version {ref['version']} and that sha in this workspace")


def _model_refs(kind: str, body: dict[str, Any]) -> list[Any]:
    if kind == step_json.MODEL_INFERENCE:
        models = body["models"]
        if not isinstance(models, list) or not models:
            raise TypeError("'models' is not a non-empty list")
        return models
    if kind == step_json.RANDOM_SPLIT:
        return [w["model"] for w in body["weights"]]
    if kind == step_json.KEY_SPLIT:
        return [body["control"], *body["routes"].values()]
    return []


def _version(row: Any) -> dict[str, Any]:
    """A model version as the remote SDK rebuilds it; where the artifact lies stays on the server."""
    return {**row_to_json(row), "artifact_uri": ""}


def _pipeline(pipeline: Pipeline) -> dict[str, Any]:
    version = pipeline._version
    return {"pipeline": row_to_json(pipeline._row), "version": row_to_json(version) if version else None,
            "versions": [row_to_json(v._row) for v in pipeline.versions()]}


def _token(row: Any) -> dict[str, Any]:
    return {"token_id": row.id, "name": row.name, "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked": row.revoked_at is not None}


def _workspace(context: Context, row: WorkspaceRow) -> dict[str, Any]:
    models, pipelines = context.store.list_models(row.id), context.store.list_pipelines(row.id)
    return {"id": row.id, "name": row.name, "created_at": row.created_at.isoformat(), "archived": row.archived,
            "models": [m.id for m in models], "pipelines": [p.id for p in pipelines],
            "model_names": [m.name for m in models], "pipeline_names": [p.name for p in pipelines]}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _schema(encoded: str | None, field: str) -> pa.Schema | None:
    """Wallaroo's ``base64(schema.serialize())``."""
    if encoded is None:
        return None
    import base64

    try:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded, validate=True)))
    except (ValueError, pa.ArrowInvalid) as exc:
        raise ModelUploadError(f"{field}: expected base64 of a serialized Arrow schema ({exc})") from exc


@contextmanager
def _received(upload: UploadFile, limit: int) -> Iterator[Path]:
    """The uploaded file on disk under its own (sanitized) name, copied in chunks, at most
    ``limit`` bytes (413 past it)."""
    name = Path(upload.filename or "model").name
    if name in ("", ".", "..") or "\x00" in name:
        raise ModelUploadError(f"file: expected a file name, got {upload.filename!r}")
    folder = Path(tempfile.mkdtemp(prefix="joey-upload-"))
    try:
        target = folder / name
        size = 0
        with target.open("wb") as out:
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _TooLarge(limit)
                out.write(chunk)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _TooLarge(JoeyError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"file: larger than the service's limit of {limit} bytes (JOEY_SERVICE_MAX_UPLOAD_BYTES)")
