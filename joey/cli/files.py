"""Tables and schemas in files: JSON records (the HTTP API's format), Arrow IPC, Parquet."""

from __future__ import annotations

from pathlib import Path

import click
import pyarrow as pa

from joey.errors import JoeyError
from joey.tables import read_body, write_body

TABLE_SUFFIXES = (".json", ".arrow", ".parquet")
_ARROW_FILE_MAGIC = b"ARROW1"  # an Arrow IPC file starts with it; a stream does not


class FileError(click.ClickException):
    """A file that cannot be read or written as asked (exit code 1)."""


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FileError(f"{path}: unknown file type {suffix or '(none)'!r}; use "
                        f"{', '.join(TABLE_SUFFIXES)}")
    return suffix


def read_table(path: Path) -> pa.Table:
    """``.json`` (pandas records: an array of row objects), ``.arrow`` (Arrow IPC file or
    stream) or ``.parquet``."""
    kind = _kind(path)
    try:
        if kind == ".parquet":
            import pyarrow.parquet as pq

            try:
                return pq.read_table(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise FileError(f"{path}: not a readable Parquet file ({exc})") from exc
        body = path.read_bytes()
        if kind == ".json":
            return read_body(body, "json")
        return read_body(body, "arrow" if body.startswith(_ARROW_FILE_MAGIC) else "arrow-stream")
    except JoeyError as exc:
        raise FileError(f"{path}: {str(exc).removeprefix('request body: ')}") from exc


def records(table: pa.Table) -> str:
    """JSON records as the HTTP API answers them (``time`` in integer milliseconds)."""
    body, _ = write_body(table, "json")
    return body.decode()


def write_table(table: pa.Table, path: Path) -> None:
    kind = _kind(path)
    if kind == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    body, _ = write_body(table, "json" if kind == ".json" else "arrow")
    path.write_bytes(body)


def read_schema(path: Path) -> pa.Schema:
    """The schema of an Arrow IPC file or stream (batches, if any, are ignored), or of a
    serialized schema message (``schema.serialize()``)."""
    data = pa.py_buffer(path.read_bytes())
    for opener in (pa.ipc.open_file, pa.ipc.open_stream):
        try:
            return opener(data).schema
        except (pa.ArrowInvalid, OSError):
            pass
    try:
        return pa.ipc.read_schema(data)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileError(f"{path}: not an Arrow IPC file, stream or schema message ({exc})") from exc
