"""Uploaded archives: find the model's folder inside a zip and unpack it.

Wallaroo's users zip a folder (BYOP code, a SavedModel, a saved Hugging Face pipeline),
sometimes on a Mac (``__MACOSX/`` entries), with or without its top-level folder.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path


class UnreadableArchiveError(ValueError):
    """The upload is not a zip that can be read."""


def members(names: list[str]) -> list[str]:
    """The zip's entries without the ``__MACOSX/`` resource forks."""
    return [n for n in names if not n.startswith("__MACOSX/")]


def model_root(names: list[str]) -> str:
    """The model's folder inside a zip as a name prefix: ``""``, or ``"folder/"`` for a zip of
    one folder. A ``requirements.txt`` at the zip's root keeps the root as the model's folder.
    """
    names = members(names)
    tops = {n.split("/", 1)[0] for n in names} - {""}
    tops = {t for t in tops if not t.startswith(".")}
    if len(tops) != 1 or "requirements.txt" in names:
        return ""
    (top,) = tops
    return f"{top}/" if any(n.startswith(f"{top}/") for n in names) else ""


def read_member(artifact: Path, name: str) -> bytes | None:
    """The bytes of ``name`` inside the model's folder of a zip (or of a folder); ``None``
    when it is not there or the artifact is neither."""
    if artifact.is_dir():
        path = artifact / name
        return path.read_bytes() if path.is_file() else None
    if not zipfile.is_zipfile(artifact):
        return None
    with zipfile.ZipFile(artifact) as archive:
        full = model_root(archive.namelist()) + name
        return archive.read(full) if full in archive.namelist() else None


_UNPACKED: dict[tuple[str, int, int], Path] = {}


def unpack(artifact: Path) -> Path:
    """A folder holding the artifact's files: the zip unpacked (its model folder), a folder
    as it is, or a copy of a single ``.py`` file. A zip is unpacked once per process (upload
    reads a model's folder several times; a saved pipeline can weigh gigabytes)."""
    if artifact.is_dir():
        return artifact
    stat = artifact.stat()
    key = (str(artifact.resolve()), stat.st_size, stat.st_mtime_ns)
    known = _UNPACKED.get(key)
    if known is not None and known.exists() and artifact.suffix != ".py":
        return known
    folder = _unpack(artifact)
    _UNPACKED[key] = folder
    return folder


def _unpack(artifact: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="joey-code-"))
    if artifact.suffix == ".py":
        (folder / artifact.name).write_bytes(artifact.read_bytes())
        return folder
    try:
        with zipfile.ZipFile(artifact) as archive:
            kept = members(archive.namelist())
            archive.extractall(folder, kept)
    except zipfile.BadZipFile as exc:
        raise UnreadableArchiveError(f"unreadable zip: {exc}") from exc
    return folder / model_root(kept)


def parse_requirements(text: str) -> list[str]:
    """Requirement lines without comments and blanks."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def canonical_name(name: str) -> str:
    """A package name as indexes compare them (PEP 503): ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    """The canonical package name a requirement line names (``torch==2.13.0`` -> ``torch``)."""
    return canonical_name(re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0])


def requirements_of(artifact: Path, _framework: str) -> list[str] | None:
    """The ``requirements.txt`` of a code zip's model folder (the zip's root, or its one
    folder, never one nested deeper), parsed; ``[]`` for a single file, ``None`` when a zip
    has none."""
    if not zipfile.is_zipfile(artifact):
        return []
    raw = read_member(artifact, "requirements.txt")
    return None if raw is None else parse_requirements(raw.decode())
