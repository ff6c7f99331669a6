"""Arrow schemas (what users give for non-ONNX models) <-> TensorFields (what runtimes use)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from joey.spec import TensorField
from joey.tables.tensors import encode_arrow


def field_from_arrow(field: pa.Field, optional: bool = False, per_row: bool = False) -> TensorField:
    """``list<float32>[10]`` -> float32 (10,); ``list<double>`` -> float64 (None,); scalars -> ().

    ``per_row``: the field keeps its exact Arrow type (structs and ragged lists pass) and its
    own nullability, for models that take one value per row.
    """
    shape: list[int | None] = []
    arrow_type = field.type
    while pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        shape.append(arrow_type.list_size if pa.types.is_fixed_size_list(arrow_type) else None)
        arrow_type = arrow_type.value_type
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        dtype = "string"
    elif pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        dtype = "object"
    else:
        dtype = np.dtype(arrow_type.to_pandas_dtype()).name
    if per_row:
        return TensorField(name=field.name, dtype=dtype, shape=tuple(shape), nullable=field.nullable,
                           arrow=encode_arrow(field))
    return TensorField(name=field.name, dtype=dtype, shape=tuple(shape), nullable=optional and field.nullable)


def fields_from_schema(schema: pa.Schema, optional: bool = False,
                       per_row: bool = False) -> tuple[TensorField, ...]:
    """``optional``: fields may take nulls unless the schema says ``nullable=False`` (BYOP);
    ``per_row``: see ``field_from_arrow``."""
    return tuple(field_from_arrow(f, optional, per_row) for f in schema)


def sample_inputs(fields: tuple[TensorField, ...], rows: int, seed: int = 0,
                  integral: bool = False) -> dict[str, np.ndarray]:
    """Generated inputs for proving a conversion: normal floats, small non-negative ints.

    ``integral`` draws floats from 0..9 too, for models whose float inputs are indices
    (an embedding lookup refuses -1.3).
    """
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for field in fields:
        shape = (rows, *(d if d is not None else 4 for d in field.shape))
        dtype = np.dtype(field.dtype) if field.dtype != "string" else np.dtype(object)
        if dtype.kind == "f" and not integral:
            data[field.name] = rng.normal(size=shape).astype(dtype)
        elif dtype.kind in "iuf":
            data[field.name] = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype.kind == "b":
            data[field.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            data[field.name] = rng.integers(0, 10, size=shape).astype(str).astype(object)
    return data
