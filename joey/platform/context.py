"""What every SDK object shares: settings, the store and the artifact store."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from joey.config import Settings
from joey.platform.artifacts import ArtifactStore
from joey.platform.store import Store


@dataclass
class Context:
    """Built once by ``Client``; passed to every object it returns."""

    settings: Settings
    interactive: bool = True
    """Print progress (upload, deploy), as Wallaroo's ``Client(interactive=...)``."""
    time_format: str = "%Y-%d-%b %H:%M:%S"
    """How tables in a notebook show times (Wallaroo's ``Client(time_format=...)``)."""
    acting_as: str | None = None
    """The signed-in user a service request acts as (its email); None: embedded mode."""

    def acting(self, email: str) -> Context:
        """This context (same store and artifact store) acting as the user ``email``."""
        context = Context(self.settings, interactive=False, time_format=self.time_format, acting_as=email)
        context.__dict__["store"] = self.store
        context.__dict__["artifacts"] = self.artifacts
        return context

    @cached_property
    def actor(self) -> str:
        """Who acts, for the audit log: the signed-in user, else embedded mode's OS user."""
        if self.acting_as is not None:
            return self.acting_as
        import getpass

        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def audit(self, action: str, object_kind: str, object_name: str, *, workspace_id: int | None = None,
              object_id: int | None = None, **details: Any) -> None:
        """Record a control-plane action in the audit log."""
        self.store.record_audit(self.actor, action, object_kind, object_name, workspace_id=workspace_id,
                                object_id=object_id, details=details)

    def echo(self, line: str, end: str = "\n") -> None:
        """Progress for the person at the keyboard; silent when not interactive."""
        if self.interactive:
            print(line, end=end, flush=True)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.resolved_database_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.settings.resolved_artifacts_uri)

    def ensure_serve(self) -> None:
        from joey.cluster import ensure_serve

        ensure_serve(self.settings)
