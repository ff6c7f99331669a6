"""The control plane's store: workspaces, models, pipelines and deployments in SQL.

``Store`` opens a SQLAlchemy URL (a SQLite file by default, PostgreSQL by URL),
brings the schema to the newest migration, and answers with frozen rows from
``rows.py``. Every method runs in its own short transaction, so one ``Store`` can
be shared by threads, and several processes can open the same SQLite file: WAL
lets readers run beside a writer, and writers take the lock up front
(``BEGIN IMMEDIATE``) and wait for it rather than fail half-way.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Select, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from joey.platform.store.accounts import AccountStore
from joey.platform.store.models import (
    AuditEvent,
    Base,
    Deployment,
    InstallationSetting,
    Model,
    ModelVersion,
    Pipeline,
    PipelineVersion,
    Workspace,
)
from joey.platform.store.rows import (
    AuditEventRow,
    DeploymentRow,
    ModelRow,
    ModelVersionRow,
    PipelineRow,
    PipelineVersionRow,
    WorkspaceRow,
)

__all__ = ["MIGRATIONS_DIR", "RowNotFoundError", "Store"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script location ``Store`` migrates with."""

_WRITE = "joey_write"
"""Execution option marking a writing transaction (``BEGIN IMMEDIATE`` on SQLite)."""
_BUSY_TIMEOUT_MS = 30_000
_MIGRATION_LOCK_KEY = 0x6A6F_6579_7374_6F72  # "joeystor": PostgreSQL's advisory lock for migrating

_T = TypeVar("_T", bound=Base)


class RowNotFoundError(LookupError):
    """A write named a row by id that does not exist (reads answer None instead).

    The store speaks ids; the SDK layer, which knows names, turns this into
    ``joey.errors.EntityNotFoundError`` where a user could have caused it.
    """

    def __init__(self, kind: str, row_id: int) -> None:
        super().__init__(kind, row_id)

    def __str__(self) -> str:
        return f"{self.args[0]} with id {self.args[1]} does not exist"


def _now() -> datetime:
    return datetime.now(UTC)


def _new_version() -> str:
    return str(uuid.uuid4())


class Store:
    """The SQL store of the control plane; see the module docstring."""

    def __init__(self, database_url: str) -> None:
        self._engine = _create_engine(make_url(database_url))
        _migrate(self._engine)
        self._read = sessionmaker(self._engine, expire_on_commit=False)
        self._write = sessionmaker(
            self._engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        self.accounts = AccountStore(self._read, self._write)
        """Users, API tokens and workspace roles."""

    def close(self) -> None:
        """Close the pooled connections; the store must not be used afterwards."""
        self._engine.dispose()

    # workspaces

    def create_workspace(self, name: str) -> WorkspaceRow:
        """Create a workspace; ``ValueError`` if one with this name exists."""
        try:
            with self._write.begin() as session:
                workspace = Workspace(name=name, created_at=_now(), archived=False)
                session.add(workspace)
                session.flush()
                return _workspace_row(workspace)
        except IntegrityError as exc:
            raise ValueError(f"workspace {name!r} already exists") from exc

    def get_workspace(self, name: str) -> WorkspaceRow | None:
        with self._read.begin() as session:
            found = session.scalar(select(Workspace).where(Workspace.name == name))
            return None if found is None else _workspace_row(found)

    def get_workspace_by_id(self, workspace_id: int) -> WorkspaceRow | None:
        with self._read.begin() as session:
            found = session.get(Workspace, workspace_id)
            return None if found is None else _workspace_row(found)

    def set_workspace_archived(self, workspace_id: int, archived: bool) -> WorkspaceRow:
        with self._write.begin() as session:
            workspace = _require(session, Workspace, workspace_id, "workspace")
            workspace.archived = archived
            return _workspace_row(workspace)

    def list_workspaces(self) -> list[WorkspaceRow]:
        with self._read.begin() as session:
            found = session.scalars(select(Workspace).order_by(Workspace.id))
            return [_workspace_row(w) for w in found]

    # models

    def add_model_version(
        self,
        workspace_id: int,
        name: str,
        *,
        sha: str,
        file_name: str,
        framework: str,
        runtime: str,
        artifact_uri: str,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        config: dict[str, Any],
        status: str,
        upload_log: list[str],
    ) -> ModelVersionRow:
        """Add a version (new uuid4) to the model ``name``, creating the model if needed."""
        with self._write.begin() as session:
            _require(session, Workspace, workspace_id, "workspace")
            now = _now()
            model = _get_or_create(
                session,
                select(Model).where(Model.workspace_id == workspace_id, Model.name == name),
                lambda: Model(workspace_id=workspace_id, name=name, created_at=now, updated_at=now),
            )
            model.updated_at = now
            model_version = ModelVersion(
                model=model,
                version=_new_version(),
                sha=sha,
                file_name=file_name,
                framework=framework,
                runtime=runtime,
                artifact_uri=artifact_uri,
                inputs=copy.deepcopy(inputs),
                outputs=copy.deepcopy(outputs),
                config=copy.deepcopy(config),
                status=status,
                upload_log=list(upload_log),
                created_at=now,
                updated_at=now,
            )
            session.add(model_version)
            session.flush()
            return _model_version_row(model_version)

    def get_model_version(
        self, workspace_id: int, name: str, version: str | None = None
    ) -> ModelVersionRow | None:
        """The given version of model ``name``, or its newest when ``version`` is None."""
        stmt = _model_versions(workspace_id, name)
        if version is not None:
            stmt = stmt.where(ModelVersion.version == version)
        with self._read.begin() as session:
            found = session.scalars(stmt.limit(1)).first()
            return None if found is None else _model_version_row(found)

    def get_model_version_by_id(self, model_version_id: int) -> ModelVersionRow | None:
        with self._read.begin() as session:
            found = session.get(ModelVersion, model_version_id)
            return None if found is None else _model_version_row(found)

    def list_models(self, workspace_id: int) -> list[ModelRow]:
        """The workspace's models by name, each with its number of versions."""
        count = func.count(ModelVersion.id)
        stmt = (
            select(Model, count)
            .outerjoin(ModelVersion, ModelVersion.model_id == Model.id)
            .where(Model.workspace_id == workspace_id)
            .group_by(Model.id)
            .order_by(Model.name)
        )
        with self._read.begin() as session:
            return [_model_row(model, n) for model, n in session.execute(stmt).tuples()]

    def list_model_versions(self, workspace_id: int, name: str) -> list[ModelVersionRow]:
        """Every version of model ``name``, newest first."""
        with self._read.begin() as session:
            found = session.scalars(_model_versions(workspace_id, name))
            return [_model_version_row(v) for v in found]

    def update_model_version(
        self,
        model_version_id: int,
        *,
        config: dict[str, Any] | None = None,
        status: str | None = None,
        upload_log: list[str] | None = None,
        runtime: str | None = None,
        artifact_uri: str | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
    ) -> ModelVersionRow:
        """Replace the fields given (None leaves one as is) and bump ``updated_at``."""
        with self._write.begin() as session:
            found = _require(session, ModelVersion, model_version_id, "model version")
            if config is not None:
                found.config = copy.deepcopy(config)
            if status is not None:
                found.status = status
            if upload_log is not None:
                found.upload_log = list(upload_log)
            if runtime is not None:
                found.runtime = runtime
            if artifact_uri is not None:
                found.artifact_uri = artifact_uri
            if inputs is not None:
                found.inputs = copy.deepcopy(inputs)
            if outputs is not None:
                found.outputs = copy.deepcopy(outputs)
            found.updated_at = _now()
            session.flush()
            return _model_version_row(found)

    # pipelines

    def get_or_create_pipeline(self, workspace_id: int, name: str) -> PipelineRow:
        with self._write.begin() as session:
            _require(session, Workspace, workspace_id, "workspace")
            now = _now()
            pipeline = _get_or_create(
                session,
                select(Pipeline).where(
                    Pipeline.workspace_id == workspace_id, Pipeline.name == name
                ),
                lambda: Pipeline(
                    workspace_id=workspace_id, name=name, created_at=now, updated_at=now
                ),
            )
            return _pipeline_row(pipeline)

    def get_pipeline(self, workspace_id: int, name: str) -> PipelineRow | None:
        stmt = select(Pipeline).where(Pipeline.workspace_id == workspace_id, Pipeline.name == name)
        with self._read.begin() as session:
            found = session.scalar(stmt)
            return None if found is None else _pipeline_row(found)

    def get_pipeline_by_id(self, pipeline_id: int) -> PipelineRow | None:
        with self._read.begin() as session:
            found = session.get(Pipeline, pipeline_id)
            return None if found is None else _pipeline_row(found)

    def list_pipelines(self, workspace_id: int) -> list[PipelineRow]:
        stmt = select(Pipeline).where(Pipeline.workspace_id == workspace_id).order_by(Pipeline.name)
        with self._read.begin() as session:
            return [_pipeline_row(p) for p in session.scalars(stmt)]

    def add_pipeline_version(
        self, pipeline_id: int, definition: list[dict[str, Any]]
    ) -> PipelineVersionRow:
        """Add a version (new uuid4) holding ``definition`` and bump the pipeline's ``updated_at``."""
        with self._write.begin() as session:
            pipeline = _require(session, Pipeline, pipeline_id, "pipeline")
            now = _now()
            pipeline.updated_at = now
            pipeline_version = PipelineVersion(
                pipeline_id=pipeline_id,
                version=_new_version(),
                definition=copy.deepcopy(definition),
                created_at=now,
            )
            session.add(pipeline_version)
            session.flush()
            return _pipeline_version_row(pipeline_version)

    def list_pipeline_versions(self, pipeline_id: int) -> list[PipelineVersionRow]:
        """Every version of the pipeline, newest first."""
        with self._read.begin() as session:
            return [
                _pipeline_version_row(v) for v in session.scalars(_pipeline_versions(pipeline_id))
            ]

    def get_pipeline_version(
        self, pipeline_id: int, version: str | None = None
    ) -> PipelineVersionRow | None:
        """The given version of the pipeline, or its newest when ``version`` is None."""
        stmt = _pipeline_versions(pipeline_id)
        if version is not None:
            stmt = stmt.where(PipelineVersion.version == version)
        with self._read.begin() as session:
            found = session.scalars(stmt.limit(1)).first()
            return None if found is None else _pipeline_version_row(found)

    def get_pipeline_version_by_id(self, pipeline_version_id: int) -> PipelineVersionRow | None:
        with self._read.begin() as session:
            found = session.get(PipelineVersion, pipeline_version_id)
            return None if found is None else _pipeline_version_row(found)

    # audit log

    def record_audit(self, actor: str, action: str, object_kind: str, object_name: str, *,
                     workspace_id: int | None = None, object_id: int | None = None,
                     details: dict[str, Any] | None = None) -> AuditEventRow:
        """Record one control-plane action (kept forever)."""
        with self._write.begin() as session:
            event = AuditEvent(created_at=_now(), actor=actor, action=action, workspace_id=workspace_id,
                               object_kind=object_kind, object_id=object_id, object_name=object_name,
                               details=copy.deepcopy(details or {}))
            session.add(event)
            session.flush()
            return _audit_row(event)

    def list_audit_events(self, start: datetime | None = None, end: datetime | None = None,
                          workspace_id: int | None = None, action: str | None = None,
                          limit: int | None = None) -> list[AuditEventRow]:
        """Events oldest first, filtered by time range, workspace and action."""
        stmt = select(AuditEvent).order_by(AuditEvent.created_at, AuditEvent.id)
        if start is not None:
            stmt = stmt.where(AuditEvent.created_at >= start)
        if end is not None:
            stmt = stmt.where(AuditEvent.created_at <= end)
        if workspace_id is not None:
            stmt = stmt.where(AuditEvent.workspace_id == workspace_id)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read.begin() as session:
            return [_audit_row(e) for e in session.scalars(stmt)]

    # deployments

    def record_deployment(
        self,
        pipeline_id: int,
        pipeline_version_id: int,
        config: dict[str, Any],
        spec_json: str,
        status: str,
    ) -> DeploymentRow:
        """Record that a version of the pipeline is being deployed with ``config``."""
        with self._write.begin() as session:
            pipeline_version = _require(
                session, PipelineVersion, pipeline_version_id, "pipeline version"
            )
            if pipeline_version.pipeline_id != pipeline_id:
                raise ValueError(
                    f"pipeline version {pipeline_version_id} belongs to pipeline "
                    f"{pipeline_version.pipeline_id}, not {pipeline_id}"
                )
            deployment = Deployment(
                pipeline_id=pipeline_id,
                pipeline_version_id=pipeline_version_id,
                config=copy.deepcopy(config),
                spec_json=spec_json,
                status=status,
                created_at=_now(),
                ended_at=None,
            )
            session.add(deployment)
            session.flush()
            return _deployment_row(deployment)

    def set_deployment_status(self, deployment_id: int, status: str) -> DeploymentRow:
        with self._write.begin() as session:
            deployment = _require(session, Deployment, deployment_id, "deployment")
            deployment.status = status
            session.flush()
            return _deployment_row(deployment)

    def end_deployment(self, deployment_id: int) -> DeploymentRow:
        """Mark the deployment undeployed: status ``Unavailable`` and ``ended_at`` (kept if set)."""
        with self._write.begin() as session:
            deployment = _require(session, Deployment, deployment_id, "deployment")
            deployment.status = "Unavailable"
            if deployment.ended_at is None:
                deployment.ended_at = _now()
            session.flush()
            return _deployment_row(deployment)

    def active_deployment(self, pipeline_id: int) -> DeploymentRow | None:
        """The pipeline's newest deployment that has not ended, if any."""
        stmt = _deployments(pipeline_id).where(Deployment.ended_at.is_(None)).limit(1)
        with self._read.begin() as session:
            found = session.scalars(stmt).first()
            return None if found is None else _deployment_row(found)

    def list_deployments(self, pipeline_id: int) -> list[DeploymentRow]:
        """Every deployment of the pipeline, newest first."""
        with self._read.begin() as session:
            return [_deployment_row(d) for d in session.scalars(_deployments(pipeline_id))]

    def active_deployments(self) -> list[DeploymentRow]:
        """Every pipeline's active deployment (as ``active_deployment``), by pipeline id."""
        stmt = select(Deployment).where(Deployment.ended_at.is_(None)).order_by(Deployment.id.desc())
        with self._read.begin() as session:
            newest: dict[int, DeploymentRow] = {}
            for found in session.scalars(stmt):
                newest.setdefault(found.pipeline_id, _deployment_row(found))
            return [newest[pipeline_id] for pipeline_id in sorted(newest)]

    # installation settings

    def get_setting(self, key: str) -> Any:
        """The installation setting ``key`` (JSON) an admin set, or None."""
        with self._read.begin() as session:
            found = session.get(InstallationSetting, key)
            return None if found is None else copy.deepcopy(found.value)

    def set_setting(self, key: str, value: Any) -> None:
        """Set the installation setting ``key`` to ``value`` (JSON); None removes it."""
        with self._write.begin() as session:
            found = session.get(InstallationSetting, key)
            if value is None:
                if found is not None:
                    session.delete(found)
            elif found is None:
                session.add(InstallationSetting(key=key, value=copy.deepcopy(value), updated_at=_now()))
            else:
                found.value = copy.deepcopy(value)
                found.updated_at = _now()


# engine and migrations


def _create_engine(url: URL) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and explicit transactions."""
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory and not url.query.get("uri"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False},
        # One shared connection, or every thread would see its own empty database.
        **({"poolclass": StaticPool} if in_memory else {}),
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see ``_on_sqlite_begin``) instead of the
    # sqlite3 module, which defers it to the first write and so breaks isolation.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # A writer takes the write lock first, waiting up to busy_timeout for it; a
    # deferred BEGIN would fail with "database is locked" when upgrading later.
    writing = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration, in one writing transaction."""
    config = Config()
    # set_main_option interpolates, so a literal "%" in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    with engine.execution_options(**{_WRITE: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            # One migrating process at a time, as BEGIN IMMEDIATE gives on SQLite: processes
            # creating the tables of a new database at once otherwise fail on each other's
            # (UniqueViolation on pg_type). Held until this transaction ends; the next one
            # then finds the schema up to date.
            connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# session helpers


def _require(session: Session, entity: type[_T], key: int, kind: str) -> _T:
    found = session.get(entity, key)
    if found is None:
        raise RowNotFoundError(kind, key)
    return found


def _get_or_create(session: Session, stmt: Select[_T], make: Callable[[], _T]) -> _T:
    """The row ``stmt`` finds, else a new one; survives a concurrent insert of it."""
    found = session.scalar(stmt)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            created = make()
            session.add(created)
        return created
    except IntegrityError:
        # Another transaction inserted it first (possible on PostgreSQL).
        found = session.scalar(stmt)
        if found is None:
            raise
        return found


def _model_versions(workspace_id: int, name: str) -> Select[ModelVersion]:
    return (
        select(ModelVersion)
        .join(ModelVersion.model)
        .where(Model.workspace_id == workspace_id, Model.name == name)
        .order_by(ModelVersion.id.desc())
    )


def _pipeline_versions(pipeline_id: int) -> Select[PipelineVersion]:
    return (
        select(PipelineVersion)
        .where(PipelineVersion.pipeline_id == pipeline_id)
        .order_by(PipelineVersion.id.desc())
    )


def _deployments(pipeline_id: int) -> Select[Deployment]:
    return (
        select(Deployment)
        .where(Deployment.pipeline_id == pipeline_id)
        .order_by(Deployment.id.desc())
    )


# ORM objects to rows


def _workspace_row(w: Workspace) -> WorkspaceRow:
    return WorkspaceRow(id=w.id, name=w.name, created_at=w.created_at, archived=w.archived)


def _model_row(m: Model, version_count: int) -> ModelRow:
    return ModelRow(
        id=m.id,
        workspace_id=m.workspace_id,
        name=m.name,
        created_at=m.created_at,
        updated_at=m.updated_at,
        version_count=version_count,
    )


def _model_version_row(v: ModelVersion) -> ModelVersionRow:
    return ModelVersionRow(
        id=v.id,
        model_id=v.model_id,
        workspace_id=v.model.workspace_id,
        name=v.model.name,
        version=v.version,
        sha=v.sha,
        file_name=v.file_name,
        framework=v.framework,
        runtime=v.runtime,
        artifact_uri=v.artifact_uri,
        inputs=copy.deepcopy(v.inputs),
        outputs=copy.deepcopy(v.outputs),
        config=copy.deepcopy(v.config),
        status=v.status,
        upload_log=list(v.upload_log),
        created_at=v.created_at,
        updated_at=v.updated_at,
    )


def _pipeline_row(p: Pipeline) -> PipelineRow:
    return PipelineRow(
        id=p.id,
        workspace_id=p.workspace_id,
        name=p.name,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _pipeline_version_row(v: PipelineVersion) -> PipelineVersionRow:
    return PipelineVersionRow(
        id=v.id,
        pipeline_id=v.pipeline_id,
        version=v.version,
        definition=copy.deepcopy(v.definition),
        created_at=v.created_at,
    )


def _audit_row(e: AuditEvent) -> AuditEventRow:
    return AuditEventRow(id=e.id, created_at=e.created_at, actor=e.actor, action=e.action,
                         workspace_id=e.workspace_id, object_kind=e.object_kind, object_id=e.object_id,
                         object_name=e.object_name, details=copy.deepcopy(e.details))


def _deployment_row(d: Deployment) -> DeploymentRow:
    return DeploymentRow(
        id=d.id,
        pipeline_id=d.pipeline_id,
        pipeline_version_id=d.pipeline_version_id,
        config=copy.deepcopy(d.config),
        spec_json=d.spec_json,
        status=d.status,
        created_at=d.created_at,
        ended_at=d.ended_at,
    )
