"""The content-addressed artifact store of the control plane.

An uploaded file is stored once per content at ``{root}/sha256/{sha[:2]}/{sha}/{file
name}`` on any fsspec filesystem (a local folder by default). The file keeps its
name because runtimes pick loaders by suffix; the sha folder makes equal uploads
share one copy and lets ``joey.artifacts.fetch_artifact`` cache and verify it.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from joey.artifacts import sha256_file

__all__ = ["ArtifactRef", "ArtifactStore"]


@dataclass(frozen=True)
class ArtifactRef:
    """Where a stored artifact lives and what it is."""

    sha: str
    uri: str
    size: int
    file_name: str


class ArtifactStore:
    """Content-addressed files under ``root_uri`` (a path or any fsspec URI)."""

    def __init__(self, root_uri: str) -> None:
        self._fs, root = url_to_fs(root_uri)
        self._root = str(root).rstrip("/")
        self._local = isinstance(self._fs, LocalFileSystem)

    def put(self, path: Path) -> ArtifactRef:
        """Store the file (unless its content is already there) and say where it is."""
        sha = sha256_file(path)
        size = path.stat().st_size
        folder = f"{self._root}/sha256/{sha[:2]}/{sha}"
        target = f"{folder}/{path.name}"
        if not self._fs.exists(target):
            self._fs.makedirs(folder, exist_ok=True)
            if self._local:
                # Copy then rename, so a crash never leaves a partial file that
                # a later put would take for the stored one.
                partial = Path(folder) / f".{path.name}.{uuid.uuid4().hex}.part"
                try:
                    shutil.copyfile(path, partial)
                    partial.replace(target)
                finally:
                    partial.unlink(missing_ok=True)
            else:
                self._fs.put_file(str(path), target)
        uri = target if self._local else str(self._fs.unstrip_protocol(target))
        return ArtifactRef(sha=sha, uri=uri, size=size, file_name=path.name)

    def exists(self, uri: str) -> bool:
        """Whether a file is stored at ``uri`` (as returned by ``put``)."""
        fs, path = url_to_fs(uri)
        return bool(fs.exists(path))
