"""What every SDK object shares: settings, the store and the artifact store."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
