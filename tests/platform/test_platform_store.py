"""The SQL store on real databases: migrations, every method, threads, processes.

Every test that opens a ``Store`` runs twice: on a new SQLite file and on a new database
of the session's throwaway PostgreSQL server (``postgres_url``, tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from support.postgres import fresh_database
from support.waiting import wait_until

from joey.platform.store import ModelVersionRow, RowNotFoundError, Store
from joey.platform.store.models import Base

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "workspaces",
    "models",
    "model_versions",
    "pipelines",
    "pipeline_versions",
    "deployments",
    "audit_events",
    "users",
    "api_tokens",
    "workspace_members",
    "installation_settings",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in a directory the store has to create, or a
    database of its own on the session's PostgreSQL server (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'joey.db'}"
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store(database_url)
    yield opened
    opened.close()


def _add_version(store: Store, workspace_id: int, name: str, **overrides: Any) -> ModelVersionRow:
    fields: dict[str, Any] = {
        "sha": "0" * 64,
        "file_name": "model.onnx",
        "framework": "onnx",
        "runtime": "onnx",
        "artifact_uri": "/artifacts/model.onnx",
        "inputs": [{"name": "x", "type": "float32", "shape": [4]}],
        "outputs": [{"name": "y", "type": "float32", "shape": [1]}],
        "config": {"batch": "auto"},
        "status": "ready",
        "upload_log": ["stored"],
    }
    fields.update(overrides)
    return store.add_model_version(workspace_id, name, **fields)


def _is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def _enforce_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


@contextmanager
def _connect(database_url: str) -> Iterator[Connection]:
    """A connection of its own, beside the store's, in one transaction committed at the
    end (SQLite's with foreign keys enforced, as the store's are)."""
    engine = create_engine(database_url, poolclass=NullPool)
    if _is_sqlite(database_url):
        event.listen(engine, "connect", _enforce_foreign_keys)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


# migrations


def test_migrations_create_the_tables_and_are_idempotent(database_url: str) -> None:
    first = Store(database_url)
    workspace = first.create_workspace("kept")
    second = Store(database_url)  # migrates an up-to-date database: a no-op

    assert second.get_workspace("kept") == workspace
    sqlite = _is_sqlite(database_url)
    with _connect(database_url) as connection:
        if sqlite:
            tables = {
                r[0]
                for r in connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            }
            journal = tuple(connection.exec_driver_sql("PRAGMA journal_mode").one())
        else:
            tables = set(inspect(connection).get_table_names())
        revisions = [
            tuple(r) for r in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        ]
    assert tables == TABLES | {"alembic_version"}
    assert revisions == [("0004",)]
    if sqlite:
        assert journal == ("wal",)
    first.close()
    second.close()


@pytest.mark.usefixtures("store")  # migrates the database
def test_migration_matches_the_orm_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_in_memory_database_is_shared_across_threads() -> None:
    store = Store("sqlite://")
    store.create_workspace("mem")
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(store.get_workspace("mem")))
    thread.start()
    thread.join()
    assert seen == [store.get_workspace("mem")]
    assert seen[0] is not None


# workspaces


def test_workspaces(store: Store) -> None:
    alpha = store.create_workspace("alpha")
    beta = store.create_workspace("beta")

    assert (alpha.name, alpha.archived) == ("alpha", False)
    assert alpha.created_at.tzinfo is UTC
    assert store.get_workspace("alpha") == alpha
    assert store.get_workspace_by_id(beta.id) == beta
    assert store.get_workspace("missing") is None
    assert store.get_workspace_by_id(999) is None
    assert store.list_workspaces() == [alpha, beta]
    with pytest.raises(dataclasses.FrozenInstanceError):
        alpha.name = "other"  # type: ignore[misc]


def test_duplicate_workspace_raises_value_error(store: Store) -> None:
    store.create_workspace("alpha")
    with pytest.raises(ValueError, match="alpha"):
        store.create_workspace("alpha")
    assert [w.name for w in store.list_workspaces()] == ["alpha"]


# models


def test_model_versions_newest_first(store: Store) -> None:
    ws = store.create_workspace("ws")
    first = _add_version(store, ws.id, "ccfraud", sha="1" * 64)
    second = _add_version(store, ws.id, "ccfraud", sha="2" * 64)
    third = _add_version(store, ws.id, "ccfraud", sha="3" * 64)

    assert first.model_id == second.model_id == third.model_id
    assert len({first.version, second.version, third.version}) == 3
    assert store.list_model_versions(ws.id, "ccfraud") == [third, second, first]
    assert store.get_model_version(ws.id, "ccfraud") == third
    assert store.get_model_version(ws.id, "ccfraud", first.version) == first
    assert store.get_model_version_by_id(second.id) == second


def test_model_version_fields_round_trip(store: Store) -> None:
    ws = store.create_workspace("ws")
    added = _add_version(store, ws.id, "m", artifact_uri="memory:///a/m.onnx")
    read = store.get_model_version_by_id(added.id)

    assert read == added
    assert read is not None
    assert (read.workspace_id, read.name, read.artifact_uri) == (ws.id, "m", "memory:///a/m.onnx")
    assert read.inputs == [{"name": "x", "type": "float32", "shape": [4]}]
    assert read.config == {"batch": "auto"}
    assert read.upload_log == ["stored"]
    assert read.created_at.tzinfo is UTC
    assert read.updated_at == read.created_at


def test_rows_do_not_alias_the_caller_data(store: Store) -> None:
    ws = store.create_workspace("ws")
    config: dict[str, Any] = {"tensor_fields": ["a"]}
    added = _add_version(store, ws.id, "m", config=config)
    config["tensor_fields"].append("b")
    added.config["tensor_fields"].append("c")

    stored = store.get_model_version_by_id(added.id)
    assert stored is not None
    assert stored.config == {"tensor_fields": ["a"]}


def test_missing_model_versions_are_none(store: Store) -> None:
    ws = store.create_workspace("ws")
    other = store.create_workspace("other")
    added = _add_version(store, ws.id, "m")

    assert store.get_model_version(ws.id, "nope") is None
    assert store.get_model_version(ws.id, "m", "0f0f0f0f-0000-4000-8000-000000000000") is None
    assert store.get_model_version(other.id, "m") is None
    assert store.get_model_version(other.id, "m", added.version) is None
    assert store.get_model_version_by_id(999) is None
    assert store.list_model_versions(ws.id, "nope") == []


def test_add_model_version_to_missing_workspace_raises(store: Store) -> None:
    with pytest.raises(RowNotFoundError):
        _add_version(store, 42, "m")


def test_list_models_by_name_with_counts(store: Store) -> None:
    ws = store.create_workspace("ws")
    other = store.create_workspace("other")
    _add_version(store, ws.id, "zeta")
    first = _add_version(store, ws.id, "alpha")
    latest = _add_version(store, ws.id, "alpha")
    _add_version(store, other.id, "alpha")

    models = store.list_models(ws.id)
    assert [(m.name, m.version_count) for m in models] == [("alpha", 2), ("zeta", 1)]
    assert models[0].created_at == first.created_at
    assert models[0].updated_at == latest.created_at > first.created_at
    assert models[0].id != store.list_models(other.id)[0].id
    assert store.list_models(999) == []


def test_update_model_version(store: Store) -> None:
    ws = store.create_workspace("ws")
    added = _add_version(store, ws.id, "m", status="pending", upload_log=[])

    updated = store.update_model_version(
        added.id, status="ready", upload_log=["converted"], runtime="onnx-gpu"
    )
    assert (updated.status, updated.upload_log, updated.runtime) == (
        "ready",
        ["converted"],
        "onnx-gpu",
    )
    assert updated.config == added.config
    assert updated.updated_at > added.updated_at
    assert updated.created_at == added.created_at

    reconfigured = store.update_model_version(added.id, config={"batch": "single"})
    assert reconfigured.config == {"batch": "single"}
    assert reconfigured.status == "ready"
    assert store.get_model_version_by_id(added.id) == reconfigured
    with pytest.raises(RowNotFoundError):
        store.update_model_version(999, status="ready")


# pipelines


def test_pipelines(store: Store) -> None:
    ws = store.create_workspace("ws")
    other = store.create_workspace("other")
    created = store.get_or_create_pipeline(ws.id, "zeta")
    alpha = store.get_or_create_pipeline(ws.id, "alpha")
    foreign = store.get_or_create_pipeline(other.id, "alpha")

    assert store.get_or_create_pipeline(ws.id, "zeta") == created
    assert store.get_pipeline(ws.id, "zeta") == created
    assert store.get_pipeline(ws.id, "nope") is None
    assert store.get_pipeline_by_id(foreign.id) == foreign
    assert store.get_pipeline_by_id(999) is None
    assert store.list_pipelines(ws.id) == [alpha, created]
    assert foreign.id != alpha.id
    with pytest.raises(RowNotFoundError):
        store.get_or_create_pipeline(999, "p")


def test_pipeline_versions_newest_first(store: Store) -> None:
    ws = store.create_workspace("ws")
    pipeline = store.get_or_create_pipeline(ws.id, "p")
    first = store.add_pipeline_version(pipeline.id, [{"model": "a"}])
    second = store.add_pipeline_version(pipeline.id, [{"model": "a"}, {"model": "b"}])

    assert first.version != second.version
    assert second.definition == [{"model": "a"}, {"model": "b"}]
    assert store.list_pipeline_versions(pipeline.id) == [second, first]
    assert store.get_pipeline_version(pipeline.id) == second
    assert store.get_pipeline_version(pipeline.id, first.version) == first
    assert store.get_pipeline_version(pipeline.id, "nope") is None
    assert store.get_pipeline_version_by_id(first.id) == first
    assert store.get_pipeline_version_by_id(999) is None

    bumped = store.get_pipeline_by_id(pipeline.id)
    assert bumped is not None
    assert bumped.updated_at == second.created_at > pipeline.updated_at
    assert bumped.created_at == pipeline.created_at
    with pytest.raises(RowNotFoundError):
        store.add_pipeline_version(999, [])


def test_newest_is_by_id_when_timestamps_tie(store: Store, database_url: str) -> None:
    ws = store.create_workspace("ws")
    pipeline = store.get_or_create_pipeline(ws.id, "p")
    versions = [store.add_pipeline_version(pipeline.id, [{"n": n}]) for n in range(3)]
    models = [_add_version(store, ws.id, "m") for _ in range(3)]
    with _connect(database_url) as connection:
        connection.execute(text("UPDATE pipeline_versions SET created_at = '2024-01-01 00:00:00'"))
        connection.execute(text("UPDATE model_versions SET created_at = '2024-01-01 00:00:00'"))

    assert [v.id for v in store.list_pipeline_versions(pipeline.id)] == [v.id for v in versions][
        ::-1
    ]
    assert [v.id for v in store.list_model_versions(ws.id, "m")] == [v.id for v in models][::-1]
    newest = store.get_model_version(ws.id, "m")
    assert newest is not None
    assert newest.id == models[-1].id


# deployments


def test_deployments(store: Store) -> None:
    ws = store.create_workspace("ws")
    pipeline = store.get_or_create_pipeline(ws.id, "p")
    version = store.add_pipeline_version(pipeline.id, [{"model": "a"}])

    assert store.active_deployment(pipeline.id) is None
    first = store.record_deployment(pipeline.id, version.id, {"cpus": 1}, '{"spec": 1}', "Starting")
    assert (first.config, first.spec_json, first.status, first.ended_at) == (
        {"cpus": 1},
        '{"spec": 1}',
        "Starting",
        None,
    )
    running = store.set_deployment_status(first.id, "Running")
    assert running.status == "Running"
    assert store.active_deployment(pipeline.id) == running

    ended = store.end_deployment(first.id)
    assert ended.status == "Unavailable"
    assert ended.ended_at is not None
    assert ended.ended_at.tzinfo is UTC
    assert store.active_deployment(pipeline.id) is None
    assert store.end_deployment(first.id).ended_at == ended.ended_at

    second = store.record_deployment(pipeline.id, version.id, {"cpus": 2}, "{}", "Starting")
    assert store.active_deployment(pipeline.id) == second
    assert store.list_deployments(pipeline.id) == [second, ended]
    assert store.list_deployments(999) == []


def test_deployment_errors(store: Store) -> None:
    ws = store.create_workspace("ws")
    pipeline = store.get_or_create_pipeline(ws.id, "p")
    other = store.get_or_create_pipeline(ws.id, "other")
    version = store.add_pipeline_version(other.id, [])

    with pytest.raises(ValueError, match="belongs to pipeline"):
        store.record_deployment(pipeline.id, version.id, {}, "{}", "Starting")
    with pytest.raises(RowNotFoundError):
        store.record_deployment(pipeline.id, 999, {}, "{}", "Starting")
    with pytest.raises(RowNotFoundError):
        store.set_deployment_status(999, "Running")
    with pytest.raises(RowNotFoundError):
        store.end_deployment(999)


# constraints in the migrated schema itself


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO workspaces (name, created_at) VALUES ('ws', '2024-01-01')",
        "INSERT INTO models (workspace_id, name, created_at, updated_at)"
        " VALUES (1, 'm', '2024-01-01', '2024-01-01')",
        "INSERT INTO pipelines (workspace_id, name, created_at, updated_at)"
        " VALUES (1, 'p', '2024-01-01', '2024-01-01')",
        "INSERT INTO model_versions (model_id, version, sha, file_name, framework, runtime,"
        " artifact_uri, inputs, outputs, config, status, upload_log, created_at, updated_at)"
        " SELECT model_id, version, sha, file_name, framework, runtime, artifact_uri, inputs,"
        " outputs, config, status, upload_log, created_at, updated_at FROM model_versions",
        "INSERT INTO pipeline_versions (pipeline_id, version, definition, created_at)"
        " SELECT pipeline_id, version, definition, created_at FROM pipeline_versions",
        "INSERT INTO models (workspace_id, name, created_at, updated_at)"
        " VALUES (999, 'orphan', '2024-01-01', '2024-01-01')",
        "INSERT INTO deployments (pipeline_id, pipeline_version_id, config, spec_json, status,"
        " created_at) VALUES (1, 999, '{}', '{}', 'Starting', '2024-01-01')",
    ],
    ids=[
        "workspace-name",
        "model-name-per-workspace",
        "pipeline-name-per-workspace",
        "model-version-uuid",
        "pipeline-version-uuid",
        "model-workspace-fk",
        "deployment-version-fk",
    ],
)
def test_schema_constraints_reject(store: Store, database_url: str, statement: str) -> None:
    ws = store.create_workspace("ws")
    _add_version(store, ws.id, "m")
    pipeline = store.get_or_create_pipeline(ws.id, "p")
    store.add_pipeline_version(pipeline.id, [])

    with pytest.raises(IntegrityError), _connect(database_url) as connection:
        connection.execute(text(statement))


def test_same_names_in_other_workspaces_are_allowed(store: Store) -> None:
    first = store.create_workspace("one")
    second = store.create_workspace("two")
    a = _add_version(store, first.id, "m")
    b = _add_version(store, second.id, "m")
    assert a.model_id != b.model_id


# concurrency


def test_threads_share_one_store(store: Store) -> None:
    ws = store.create_workspace("ws")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                pipeline = store.get_or_create_pipeline(ws.id, "shared")
                store.add_pipeline_version(pipeline.id, [])
                _add_version(store, ws.id, "shared")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [(m.name, m.version_count) for m in store.list_models(ws.id)] == [("shared", 40)]
    pipelines = store.list_pipelines(ws.id)
    assert len(pipelines) == 1
    assert len(store.list_pipeline_versions(pipelines[0].id)) == 40


_CHILD = """
import json, os, sys, time
from joey.platform.store import Store

barrier = sys.argv[4]
if barrier:  # say we are ready, then wait for the others: all open the store at once
    open(os.path.join(barrier, sys.argv[2]), "w").close()
    while not os.path.exists(os.path.join(barrier, "go")):
        time.sleep(0.005)
store = Store(sys.argv[1])
ws = store.get_workspace("parent") or store.create_workspace(sys.argv[2])
seen = [v.sha for v in store.list_model_versions(ws.id, "m")]
for n in range(int(sys.argv[3])):
    store.add_model_version(
        ws.id, "m", sha=f"{sys.argv[2]}-{n}", file_name="m.onnx", framework="onnx",
        runtime="onnx", artifact_uri="/m.onnx", inputs=[], outputs=[], config={},
        status="ready", upload_log=[],
    )
print(json.dumps({"workspace": ws.name, "seen": seen}))
"""


def _child(
    database_url: str, name: str, count: int, barrier: Path | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, database_url, name, str(count), str(barrier or "")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_another_process_sees_and_adds_rows(store: Store, database_url: str) -> None:
    ws = store.create_workspace("parent")
    _add_version(store, ws.id, "m", sha="from-parent")

    result = _result(_child(database_url, "unused", 2))

    assert result == {"workspace": "parent", "seen": ["from-parent"]}
    assert [v.sha for v in store.list_model_versions(ws.id, "m")] == [
        "unused-1",
        "unused-0",
        "from-parent",
    ]


def test_processes_migrate_and_write_one_new_file_at_once(
    database_url: str, tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    names = [f"child{n}" for n in range(3)]
    children = [_child(database_url, name, 10, barrier) for name in names]
    wait_until(
        lambda: all((barrier / name).exists() for name in names)
        or any(child.poll() is not None for child in children),
        timeout=60,
    )
    (barrier / "go").touch()
    results = [_result(child) for child in children]

    store = Store(database_url)
    assert sorted(r["workspace"] for r in results) == ["child0", "child1", "child2"]
    for workspace in store.list_workspaces():
        assert len(store.list_model_versions(workspace.id, "m")) == 10
    store.close()
