"""Arrow columns <-> numpy tensors, vectorized: no per-row Python.

Request columns become batch-first arrays (scalars 1-D, fixed-size or equal-length
lists N-D) checked against the model's ``TensorField``; model outputs become list
columns (``list<inner: T not null>``) or scalar columns.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joey.errors import InvalidInputError
from joey.spec import TensorField

InferenceData = dict[str, np.ndarray]


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _stringlike(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def encode_arrow(field: pa.Field) -> str:
    """A field's Arrow type as text a ``TensorField`` can carry (an IPC schema, base64)."""
    return base64.b64encode(pa.schema([field]).serialize().to_pybytes()).decode()


def decode_arrow(text: str) -> pa.Field:
    """The Arrow field ``encode_arrow`` wrote."""
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text))).field(0)


def _per_row_tensor(array: pa.Array, field: TensorField) -> np.ndarray:
    """A column for a model that takes one value per row, in the field's exact Arrow type:
    dense when it is (no nulls, equal lengths), else one Python value (or numpy array) per
    row, ``None`` where null."""
    assert field.arrow is not None
    wanted = decode_arrow(field.arrow).type
    if not array.type.equals(wanted):
        try:
            array = array.cast(wanted)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(field.name, str(wanted), str(array.type)) from exc
    dense = field.model_copy(update={"arrow": None, "nullable": False})
    if not array.null_count and not pa.types.is_struct(wanted) and _dense_shape(array, dense):
        return column_to_tensor(array, dense)
    if _is_list(array.type) or pa.types.is_struct(array.type):
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
    rows = np.empty(len(array), dtype=object)
    rows[:] = array.to_pylist()
    return rows


def _dense_shape(array: pa.Array, field: TensorField) -> bool:
    """Whether a column is one tensor of ``field``'s rank (every list level non-null, equal lengths)."""
    values: pa.Array = array
    depth = 0
    while _is_list(values.type):
        if values.null_count:
            return False
        if not pa.types.is_fixed_size_list(values.type):
            bounds = pc.min_max(pc.list_value_length(values))
            if bounds["min"].as_py() != bounds["max"].as_py():
                return False
        values = values.flatten()
        depth += 1
    return depth == len(field.shape) and (_numeric(values.type) or _stringlike(values.type))


def column_to_tensor(column: pa.Array | pa.ChunkedArray, field: TensorField) -> np.ndarray:
    """One request column as a batch-first array of ``field``'s dtype, or InvalidInputError."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if field.arrow is not None:
        return _per_row_tensor(array, field)
    if field.nullable:
        optional = _optional_tensor(array, field)
        if optional is not None:
            return optional
    expected = field.describe()
    rows = len(array)
    dims: list[int] = []
    values: pa.Array = array
    while _is_list(values.type):
        if values.null_count:
            raise InvalidInputError(field.name, f"{expected} with no nulls", f"{values.null_count} null values")
        if pa.types.is_fixed_size_list(values.type):
            size = values.type.list_size
        else:
            lengths = pc.list_value_length(values)
            bounds = pc.min_max(lengths)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low != high:
                raise InvalidInputError(
                    field.name, f"{expected} with equal lengths per row (not ragged)", f"lengths from {low} to {high}"
                )
            size = int(low or 0)
        dims.append(size)
        values = values.flatten()
    if values.null_count:
        raise InvalidInputError(field.name, f"{expected} with no nulls", f"{values.null_count} null values")
    if len(dims) != len(field.shape):
        raise InvalidInputError(field.name, expected, _describe_arrow(array.type, dims))
    for want, got in zip(field.shape, dims, strict=True):
        if want is not None and want != got:
            raise InvalidInputError(field.name, expected, _describe_arrow(array.type, dims))
    return _cast(values, field, array.type, dims).reshape((rows, *dims))


def _optional_tensor(array: pa.Array, field: TensorField) -> np.ndarray | None:
    """Optional inputs (CONTRACT "Optional inputs"): nulls reach the code as NaN or None.

    Returns None when the column has no nulls and equal row lengths, so the regular
    (vectorized, typed) path applies.
    """
    if pa.types.is_null(array.type):  # all nulls: the type comes from the schema
        if not field.shape and np.dtype(field.dtype if field.dtype != "string" else object).kind == "f":
            return np.full(len(array), np.nan, dtype=field.dtype)
        return np.full(len(array), None, dtype=object)
    if not _is_list(array.type):
        if not array.null_count:
            return None
        if field.dtype != "string" and np.dtype(field.dtype).kind == "f":
            return np.asarray(array.cast(pa.from_numpy_dtype(np.dtype(field.dtype))).to_numpy(zero_copy_only=False))
        return np.asarray(array.to_pylist(), dtype=object)
    lengths = pc.list_value_length(array)
    bounds = pc.min_max(lengths)
    untyped = pa.types.is_null(array.type.value_type)  # only [] and [None] were sent
    if (not untyped and not array.null_count and not array.flatten().null_count
            and bounds["min"].as_py() == bounds["max"].as_py()):
        return None
    # [] and [None] rows: one array per row (rare, so per-row conversion is acceptable here)
    rows = np.empty(len(array), dtype=object)
    for index, value in enumerate(array.to_pylist()):
        rows[index] = np.asarray(value if value is not None else [], dtype=object)
    return rows


def _describe_arrow(arrow_type: pa.DataType, dims: list[int]) -> str:
    shape = f" of shape [{','.join(map(str, dims))}]" if dims else ""
    return f"{arrow_type}{shape}"


def _cast(values: pa.Array, field: TensorField, arrow_type: pa.DataType, dims: list[int]) -> np.ndarray:
    if field.dtype == "string":
        if not _stringlike(values.type):
            raise InvalidInputError(field.name, field.describe(), _describe_arrow(arrow_type, dims))
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    if not _numeric(values.type):
        raise InvalidInputError(field.name, field.describe(), _describe_arrow(arrow_type, dims))
    source = values.to_numpy(zero_copy_only=False)
    target = np.dtype(field.dtype)
    if source.dtype == target:
        return source
    if target.kind in "iub" and source.dtype.kind == "f" and not np.all(np.mod(source, 1) == 0):
        raise InvalidInputError(field.name, field.describe(), f"{_describe_arrow(arrow_type, dims)} with fractions")
    return source.astype(target)


def table_to_tensors(table: pa.Table, fields: Iterable[TensorField]) -> InferenceData:
    """The columns a step needs, validated; extra columns are ignored (and echoed by the caller)."""
    if table.num_rows == 0:
        raise InvalidInputError(None, "at least one row", "an empty table")
    data: InferenceData = {}
    for field in fields:
        if field.name not in table.column_names and field.arrow is not None and field.nullable:
            data[field.name] = np.full(table.num_rows, None, dtype=object)  # an optional input left out
            continue
        if field.name not in table.column_names:
            sent = ", ".join(table.column_names) or "no columns"
            raise InvalidInputError(field.name, f"a column {field.name!r} of {field.describe()}", f"columns {sent}")
        data[field.name] = column_to_tensor(table.column(field.name), field)
    return data


def tensor_to_column(array: np.ndarray, field: TensorField | None = None) -> pa.Array:
    """A batch-first array as an Arrow column: 1-D scalars, N-D nested non-null lists; for a
    field with an exact Arrow type (one value per row), a column of that type."""
    if field is not None and field.arrow is not None:
        return _typed_column(array, field)
    if array.dtype == object or array.dtype.kind in "US":
        flat = pa.array(array.reshape(-1), type=pa.string())
    else:
        flat = pa.array(np.ascontiguousarray(array).reshape(-1))
    column = flat
    for depth in range(array.ndim - 1, 0, -1):
        size = array.shape[depth]
        count = int(np.prod(array.shape[:depth]))
        offsets = pa.array(np.arange(count + 1, dtype=np.int32) * size, type=pa.int32())
        list_type = pa.list_(pa.field("inner", column.type, nullable=False))
        column = pa.ListArray.from_arrays(offsets, column, type=list_type)
    return column


def _typed_column(array: np.ndarray, field: TensorField) -> pa.Array:
    assert field.arrow is not None
    wanted = decode_arrow(field.arrow).type
    values = list(array) if array.dtype == object else array.tolist()
    try:
        return pa.array(values, type=wanted)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise ValueError(f"output {field.name!r} does not fit {wanted}: {exc}") from exc


def null_column(field: TensorField, rows: int) -> pa.Array:
    """An all-null column typed as ``field``'s answer would be (a dropped challenger's)."""
    if field.arrow is not None:
        return pa.nulls(rows, decode_arrow(field.arrow).type)
    shape = (1, *(1 if d is None else d for d in field.shape))
    sample = (np.full(shape, "", dtype=object) if field.dtype == "string"
              else np.zeros(shape, dtype=field.dtype))
    return pa.nulls(rows, tensor_to_column(sample).type)


def tensors_to_columns(data: Mapping[str, np.ndarray],
                       fields: Iterable[str | TensorField]) -> dict[str, pa.Array]:
    """Output tensors as Arrow columns, in ``fields`` order (a field's exact type where it has one)."""
    columns = {}
    for item in fields:
        if isinstance(item, str):
            columns[item] = tensor_to_column(data[item])
        else:
            columns[item.name] = tensor_to_column(data[item.name], item)
    return columns
