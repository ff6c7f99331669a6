"""Where an upload comes from: a file, a folder (zipped, reproducibly, so its sha is stable),
or a registry URI such as MLflow's ``models:/name/version`` (fetched, then zipped)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from joey.errors import ModelUploadError
from joey.runtimes import FrameworkRecord

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def zip_folder(folder: Path, target: Path) -> Path:
    """``folder`` as a zip holding its top-level folder, entries sorted and timestamps fixed:
    the same files always give the same bytes."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(f"{folder.name}/{path.relative_to(folder).as_posix()}", _FIXED_TIME)
            entry.external_attr = (os.stat(path).st_mode & 0xFFFF) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return target


def local_artifact(source: str | Path, record: FrameworkRecord, scratch: Path,
                   tracking_uri: str | None) -> tuple[Path, str]:
    """(a local file to store, the file name to record) for what the user uploaded;
    ``tracking_uri``: the registry a ``models:/`` URI is looked up in."""
    text = str(source)
    if "://" in text or text.startswith("models:/") or text.startswith("runs:/"):
        if record.resolve_uri is None:
            raise ModelUploadError(f"{text!r} is a URI; framework {record.framework.value!r} uploads a "
                                   "local file or folder")
        if tracking_uri is None:
            raise ModelUploadError(f"{text!r} names a registry model, but no registry is set: set "
                                   "MLFLOW_TRACKING_URI (or JOEY_MLFLOW_TRACKING_URI)")
        try:
            folder = record.call(record.resolve_uri, text, tracking_uri)
        except Exception as exc:
            raise ModelUploadError(f"cannot resolve {text!r}: {exc}") from exc
        name = text.rstrip("/").replace(":/", "-").replace("/", "-").replace("@", "-").lstrip("-")
        return zip_folder(Path(folder), scratch / f"{name}.zip"), f"{name}.zip"
    path = Path(source)
    if path.is_dir():
        return zip_folder(path, scratch / f"{path.name}.zip"), f"{path.name}.zip"
    if not path.is_file():
        raise ModelUploadError(f"no model file at {text!r}")
    return path, path.name
