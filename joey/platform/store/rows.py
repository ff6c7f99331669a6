"""Plain, frozen rows the store hands out.

The store never returns ORM objects, so no caller holds a session, triggers a lazy
load, or mutates the database by accident. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class WorkspaceRow:
    """A workspace: the namespace of models and pipelines."""

    id: int
    name: str
    created_at: datetime
    archived: bool


@dataclass(frozen=True)
class ModelRow:
    """A model name in a workspace, with how many versions it has."""

    id: int
    workspace_id: int
    name: str
    created_at: datetime
    updated_at: datetime
    version_count: int


@dataclass(frozen=True)
class ModelVersionRow:
    """One uploaded artifact of a model: what it is, where it lives, how to run it."""

    id: int
    model_id: int
    workspace_id: int
    name: str
    version: str
    sha: str
    file_name: str
    framework: str
    runtime: str
    artifact_uri: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    config: dict[str, Any]
    status: str
    upload_log: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PipelineRow:
    """A pipeline name in a workspace."""

    id: int
    workspace_id: int
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PipelineVersionRow:
    """One immutable step list of a pipeline."""

    id: int
    pipeline_id: int
    version: str
    definition: list[dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True)
class DeploymentRow:
    """A pipeline version deployed with a config; ``ended_at`` is set on undeploy."""

    id: int
    pipeline_id: int
    pipeline_version_id: int
    config: dict[str, Any]
    spec_json: str
    status: str
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class AuditEventRow:
    """One control-plane action: who, what, when, on which object."""

    id: int
    created_at: datetime
    actor: str
    action: str
    workspace_id: int | None
    object_kind: str
    object_id: int | None
    object_name: str
    details: dict[str, Any]


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    is_admin: bool
    active: bool
    created_at: datetime
    password_hash: str | None = None


@dataclass(frozen=True)
class TokenRow:
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class MemberRow:
    workspace_id: int
    user_id: int
    email: str
    role: str


def row_to_json(row: Any) -> dict[str, Any]:
    """A row as JSON-ready values (datetimes in ISO 8601): what the service answers."""
    return {f.name: _json_value(getattr(row, f.name)) for f in fields(row)}


def row_from_json(cls: type[R], data: dict[str, Any]) -> R:
    """The row ``row_to_json`` wrote (keys it does not know are ignored): what the remote SDK reads."""
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        if value is not None and "datetime" in str(f.type):
            value = datetime.fromisoformat(value)
        values[f.name] = value
    return cls(**values)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
