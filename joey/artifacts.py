"""Artifact files as both planes see them: hash one, or get a local copy of one.

The control plane hashes an upload with ``sha256_file`` before storing it; a
replica calls ``fetch_artifact`` with the URI its spec carries. Local files are
used in place; remote ones are downloaded once per machine into a cache, keyed by
their content sha when the URI is content-addressed (``.../<sha256>/<file name>``),
so a replica never reads a half-written file and never downloads one twice.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from pathlib import Path, PurePosixPath

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

__all__ = ["CHUNK_SIZE", "fetch_artifact", "node_cache_dir", "sha256_file"]

CHUNK_SIZE = 1 << 20
"""Bytes read at a time when hashing or copying, so large models stream."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file's content, read in ``CHUNK_SIZE`` chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def node_cache_dir() -> Path:
    """Where a replica keeps fetched artifacts when its spec names no cache (portable specs):
    this node's temp dir, one folder per user."""
    return Path(tempfile.gettempdir()) / f"joey-cache-{os.getuid()}"


def fetch_artifact(uri: str, cache_dir: Path) -> Path:
    """A local path to the artifact at ``uri`` (a plain path or any fsspec URI).

    A local file is returned as is. Anything else is downloaded once to
    ``cache_dir/<key>/<file name>`` and reused afterwards; ``<key>`` is the content
    sha when the URI's parent folder is one (then the download is checked against
    it), else the sha256 of the URI. The file appears atomically (written under a
    temporary name, then renamed), so concurrent fetches on one machine are safe.
    """
    fs, path = url_to_fs(uri)
    if isinstance(fs, LocalFileSystem):
        local = Path(path)
        if not local.is_file():
            raise FileNotFoundError(f"artifact {uri!r} is not a file")
        return local
    remote = PurePosixPath(path)
    content_sha = remote.parent.name if _SHA256_HEX.fullmatch(remote.parent.name) else None
    key = content_sha or hashlib.sha256(uri.encode()).hexdigest()
    target = cache_dir / key / remote.name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{remote.name}.{uuid.uuid4().hex}.part")
    try:
        digest = hashlib.sha256()
        with fs.open(path, "rb") as source, partial.open("wb") as sink:
            while chunk := source.read(CHUNK_SIZE):
                digest.update(chunk)
                sink.write(chunk)
        if content_sha is not None and digest.hexdigest() != content_sha:
            raise ValueError(f"artifact {uri!r} has sha256 {digest.hexdigest()}, not {content_sha}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
