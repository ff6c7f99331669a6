"""Data formats both planes share: bodies, tensors and result tables."""

from joey.tables.codec import (
    ARROW_FILE,
    ARROW_STREAM,
    JSON_RECORDS,
    answer_kind,
    media_kind,
    read_body,
    write_body,
)
from joey.tables.results import DatasetFilter, Metadata, assemble, sdk_column_order, shape
from joey.tables.tensors import (
    InferenceData,
    column_to_tensor,
    table_to_tensors,
    tensor_to_column,
    tensors_to_columns,
)

__all__ = [
    "ARROW_FILE",
    "ARROW_STREAM",
    "JSON_RECORDS",
    "DatasetFilter",
    "InferenceData",
    "Metadata",
    "answer_kind",
    "assemble",
    "column_to_tensor",
    "media_kind",
    "read_body",
    "sdk_column_order",
    "shape",
    "table_to_tensors",
    "tensor_to_column",
    "tensors_to_columns",
    "write_body",
]
