"""SDK ``Workspace``: a named set of models and pipelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from joey.platform.context import Context
from joey.platform.models import Model
from joey.platform.store import WorkspaceRow


class Workspace:
    """A workspace (Wallaroo's ``Workspace``); its repr is a dict."""

    def __init__(self, context: Context, row: WorkspaceRow) -> None:
        self._context = context
        self._row = row

    def id(self) -> int:
        return self._row.id

    def name(self) -> str:
        return self._row.name

    def archived(self) -> bool:
        return self._row.archived

    def created_at(self) -> datetime:
        return self._row.created_at

    def models(self) -> list[Model]:
        return [Model(self._context, r) for r in self._context.store.list_models(self._row.id)]

    def pipelines(self) -> list[Any]:
        from joey.platform.pipeline import get_pipeline

        rows = self._context.store.list_pipelines(self._row.id)
        return [get_pipeline(self._context, self._row, r.name, None) for r in rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name(),
            "id": self.id(),
            "archived": self.archived(),
            "created_at": self.created_at().isoformat(),
            "models": [m.name() for m in self.models()],
            "pipelines": [r.name for r in self._context.store.list_pipelines(self._row.id)],
        }

    def __repr__(self) -> str:
        return repr(self.to_dict())

    def table_row(self) -> dict[str, Any]:
        """One row of ``list_workspaces()`` in a notebook."""
        return self.to_dict()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other._row.id == self._row.id

    def __hash__(self) -> int:
        return hash(self._row.id)
