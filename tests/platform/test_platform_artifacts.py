"""The content-addressed artifact store and fetching artifacts, on real filesystems."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from joey.artifacts import CHUNK_SIZE, fetch_artifact, sha256_file
from joey.platform.artifacts import ArtifactRef, ArtifactStore


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "upload" / "model.onnx"
    path.parent.mkdir()
    # More than two chunks, so streaming over chunk boundaries is exercised.
    path.write_bytes(os.urandom(2 * CHUNK_SIZE + 12345))
    return path


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"memory://joey-test-{uuid.uuid4().hex}"
    yield root
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sha256_file_matches_hashlib(model_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert sha256_file(model_file) == _sha(model_file)
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_put_stores_content_addressed_under_a_local_root(model_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    ref = ArtifactStore(str(root)).put(model_file)

    sha = _sha(model_file)
    assert ref == ArtifactRef(
        sha=sha,
        uri=str(root / "sha256" / sha[:2] / sha / "model.onnx"),
        size=model_file.stat().st_size,
        file_name="model.onnx",
    )
    assert Path(ref.uri).is_absolute()
    assert Path(ref.uri).read_bytes() == model_file.read_bytes()
    assert ArtifactStore(str(root)).exists(ref.uri)
    assert not ArtifactStore(str(root)).exists(str(root / "sha256" / "none"))


def test_put_accepts_a_file_uri_root(model_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    ref = ArtifactStore(f"file://{root}").put(model_file)
    assert ref.uri.startswith(str(root))
    assert Path(ref.uri).is_file()


def test_equal_content_is_stored_once(model_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = ArtifactStore(str(root))
    first = store.put(model_file)
    stored_at = Path(first.uri).stat().st_mtime_ns
    copy = tmp_path / "again" / "model.onnx"
    copy.parent.mkdir()
    copy.write_bytes(model_file.read_bytes())

    second = store.put(copy)

    assert second == first
    assert Path(first.uri).stat().st_mtime_ns == stored_at
    assert [p for p in root.rglob("*") if p.is_file()] == [Path(first.uri)]


def test_different_content_gets_its_own_folder(model_file: Path, tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    other = tmp_path / "model.onnx"
    other.write_bytes(b"another model")
    first, second = store.put(model_file), store.put(other)
    assert first.sha != second.sha
    assert Path(first.uri).read_bytes() != Path(second.uri).read_bytes()


def test_fetch_a_local_artifact_returns_it(model_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert fetch_artifact(str(model_file), cache) == model_file
    assert fetch_artifact(f"file://{model_file}", cache) == model_file
    assert not cache.exists()
    with pytest.raises(FileNotFoundError):
        fetch_artifact(str(tmp_path / "missing.onnx"), cache)


def test_fetch_a_remote_artifact_downloads_once(
    model_file: Path, tmp_path: Path, memory_root: str
) -> None:
    store = ArtifactStore(memory_root)
    ref = store.put(model_file)
    assert ref.uri.startswith("memory://")
    assert store.exists(ref.uri)
    cache = tmp_path / "cache"

    fetched = fetch_artifact(ref.uri, cache)

    assert fetched == cache / ref.sha / "model.onnx"
    assert fetched.read_bytes() == model_file.read_bytes()
    assert [p.name for p in fetched.parent.iterdir()] == ["model.onnx"]  # no partial left
    # Reused from the cache: the remote copy is no longer needed.
    fsspec.filesystem("memory").rm(memory_root, recursive=True)
    assert not store.exists(ref.uri)
    assert fetch_artifact(ref.uri, cache) == fetched


def test_fetch_keys_other_uris_by_their_hash(tmp_path: Path, memory_root: str) -> None:
    uri = f"{memory_root}/plain/weights.bin"
    with fsspec.open(uri, "wb") as stream:
        stream.write(b"weights")

    fetched = fetch_artifact(uri, tmp_path / "cache")

    assert fetched == tmp_path / "cache" / hashlib.sha256(uri.encode()).hexdigest() / "weights.bin"
    assert fetched.read_bytes() == b"weights"


def test_fetch_rejects_content_that_breaks_its_sha(tmp_path: Path, memory_root: str) -> None:
    wrong = hashlib.sha256(b"expected").hexdigest()
    uri = f"{memory_root}/sha256/{wrong[:2]}/{wrong}/model.onnx"
    with fsspec.open(uri, "wb") as stream:
        stream.write(b"tampered")
    cache = tmp_path / "cache"

    with pytest.raises(ValueError, match="sha256"):
        fetch_artifact(uri, cache)
    assert list((cache / wrong).iterdir()) == []
