"""Request bodies in, response bodies out: pandas-records JSON and Arrow IPC files."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from joey.errors import InvalidInputError, UnsupportedMediaTypeError

ARROW_FILE = "application/vnd.apache.arrow.file"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
JSON_RECORDS = "application/json; format=pandas-records"
SUPPORTED = (JSON_RECORDS, ARROW_FILE, ARROW_STREAM)


def media_kind(content_type: str | None) -> str:
    """``json``, ``arrow`` or ``arrow-stream`` for a Content-Type, else 415."""
    value = (content_type or "").split(";")[0].strip().lower()
    if value == "application/json":
        return "json"
    if value == ARROW_FILE:
        return "arrow"
    if value == ARROW_STREAM:
        return "arrow-stream"
    raise UnsupportedMediaTypeError(content_type or "(none)", SUPPORTED)


def answer_kind(accept: str | None, request_kind: str) -> str:
    """What to answer with: the Accept header's choice, else the request's own type."""
    if accept:
        for part in accept.split(","):
            value = part.split(";")[0].strip().lower()
            if value == ARROW_FILE:
                return "arrow"
            if value == ARROW_STREAM:
                return "arrow-stream"
            if value == "application/json":
                return "json"
    return request_kind


def read_body(body: bytes, kind: str) -> pa.Table:
    """Parse a request body into an Arrow table; an unreadable or empty body is a 400."""
    if not body:
        raise InvalidInputError(None, "a non-empty body", "0 bytes")
    if kind == "json":
        table = _read_records(body)
    else:
        try:
            reader: Any
            if kind == "arrow":
                reader = pa.ipc.open_file(pa.py_buffer(body))
            else:
                reader = pa.ipc.open_stream(pa.py_buffer(body))
            table = reader.read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            what = "an Arrow IPC file" if kind == "arrow" else "an Arrow IPC stream"
            raise InvalidInputError(None, what, f"unreadable bytes ({exc})") from exc
    if table.num_rows == 0:
        raise InvalidInputError(None, "at least one row", "an empty table")
    return table


def _read_records(body: bytes) -> pa.Table:
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(None, "JSON (pandas-records)", f"unparsable JSON ({exc})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInputError(None, "a JSON array of row objects (pandas-records)", type(records).__name__)
    try:
        keys = records[0].keys() if records else ()
        if all(r.keys() == keys for r in records):
            return pa.Table.from_pylist(records)
        # pandas-records: a key a row leaves out is null there (from_pylist reads the first row's)
        names = list(dict.fromkeys(name for record in records for name in record))
        return pa.table({name: [record.get(name) for record in records] for name in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError(None, "columns of one type each", f"mixed types ({exc})") from exc


def write_body(table: pa.Table, kind: str) -> tuple[bytes, str]:
    """Serialize a result table; returns (body, content type)."""
    if kind == "json":
        return orjson.dumps(_records(table), option=orjson.OPT_SERIALIZE_NUMPY), JSON_RECORDS
    sink = pa.BufferOutputStream()
    writer_factory = pa.ipc.new_file if kind == "arrow" else pa.ipc.new_stream
    with writer_factory(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), ARROW_FILE if kind == "arrow" else ARROW_STREAM


def _records(table: pa.Table) -> list[dict[str, Any]]:
    """JSON rows, with ``time`` as integer milliseconds as the reference sends it."""
    if "time" in table.column_names and pa.types.is_timestamp(table.schema.field("time").type):
        index = table.column_names.index("time")
        table = table.set_column(index, "time", table.column("time").cast(pa.int64()))
    return table.to_pylist()  # type: ignore[no-any-return]
