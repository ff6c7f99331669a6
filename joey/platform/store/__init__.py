"""The control plane's SQL store: ``Store`` and the frozen rows it returns."""

from joey.platform.store.rows import (
    AuditEventRow,
    DeploymentRow,
    MemberRow,
    ModelRow,
    ModelVersionRow,
    PipelineRow,
    PipelineVersionRow,
    TokenRow,
    UserRow,
    WorkspaceRow,
)
from joey.platform.store.store import RowNotFoundError, Store

__all__ = [
    "AuditEventRow",
    "DeploymentRow",
    "MemberRow",
    "ModelRow",
    "ModelVersionRow",
    "PipelineRow",
    "PipelineVersionRow",
    "RowNotFoundError",
    "Store",
    "TokenRow",
    "UserRow",
    "WorkspaceRow",
]
