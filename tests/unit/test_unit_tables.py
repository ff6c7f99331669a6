"""joey.tables: tensors, bodies and result tables, without Ray."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest

from joey.errors import InvalidInputError, UnsupportedMediaTypeError
from joey.spec import TensorField
from joey.tables import (
    ARROW_FILE,
    ARROW_STREAM,
    JSON_RECORDS,
    DatasetFilter,
    Metadata,
    answer_kind,
    assemble,
    column_to_tensor,
    media_kind,
    read_body,
    sdk_column_order,
    shape,
    table_to_tensors,
    tensor_to_column,
    tensors_to_columns,
    write_body,
)
from joey.tables.frames import dataframe_to_table, table_to_dataframe

F2 = TensorField(name="x", dtype="float32", shape=(2,))


def fsl(values: list[float], width: int, value_type: pa.DataType | None = None) -> pa.Array:
    """A ``fixed_size_list<item: float32>[width]`` column (or of ``value_type``)."""
    return pa.FixedSizeListArray.from_arrays(pa.array(values, value_type or pa.float32()), width)


def nested_type(inner: pa.DataType, depth: int) -> pa.DataType:
    """``list<inner: ... not null>`` nested ``depth`` times."""
    result = inner
    for _ in range(depth):
        result = pa.list_(pa.field("inner", result, nullable=False))
    return result


# --------------------------------------------------------------------------- tensors in


def test_fixed_size_list_column() -> None:
    column = fsl([1, 2, 3, 4, 5, 6], 2)
    tensor = column_to_tensor(column, F2)
    assert tensor.dtype == np.float32
    assert tensor.shape == (3, 2)
    np.testing.assert_array_equal(tensor, [[1, 2], [3, 4], [5, 6]])


def test_list_column_cast_from_float64_to_float32() -> None:
    column = pa.array([[1.5, 2.25], [3.0, -4.0]], pa.list_(pa.float64()))
    tensor = column_to_tensor(column, F2)
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, np.array([[1.5, 2.25], [3.0, -4.0]], np.float32))


def test_nested_lists_give_an_n_dimensional_tensor() -> None:
    rows = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]
    column = pa.array(rows, pa.list_(pa.list_(pa.float64())))
    field = TensorField(name="img", dtype="float32", shape=(2, 3))
    tensor = column_to_tensor(column, field)
    assert tensor.shape == (2, 2, 3)
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, np.array(rows, np.float32))


def test_nested_fixed_size_lists_and_any_size_dimensions() -> None:
    inner = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12, dtype=np.float32)), 3)
    column = pa.FixedSizeListArray.from_arrays(inner, 2)
    field = TensorField(name="img", dtype="float32", shape=(None, 3))
    tensor = column_to_tensor(column, field)
    np.testing.assert_array_equal(tensor, np.arange(12, dtype=np.float32).reshape(2, 2, 3))


def test_scalar_column_gives_a_one_dimensional_tensor() -> None:
    tensor = column_to_tensor(pa.array([1.0, 2.0, 3.0]), TensorField(name="s", dtype="float32"))
    assert tensor.shape == (3,)
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, [1.0, 2.0, 3.0])


def test_integral_floats_cast_into_an_int_tensor() -> None:
    field = TensorField(name="x", dtype="int64", shape=(2,))
    tensor = column_to_tensor(pa.array([[1.0, 2.0], [-3.0, 4.0]]), field)
    assert tensor.dtype == np.int64
    np.testing.assert_array_equal(tensor, [[1, 2], [-3, 4]])


def test_string_column_into_a_string_tensor() -> None:
    tensor = column_to_tensor(pa.array(["a", "bc"]), TensorField(name="s", dtype="string"))
    assert tensor.dtype == object
    assert tensor.tolist() == ["a", "bc"]


def test_chunked_column() -> None:
    column = pa.chunked_array([pa.array([[1.0, 2.0]]), pa.array([[3.0, 4.0], [5.0, 6.0]])])
    tensor = column_to_tensor(column, F2)
    np.testing.assert_array_equal(tensor, [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize(
    "column",
    [
        fsl(list(range(10)), 2),
        pa.array([[float(2 * i), float(2 * i + 1)] for i in range(5)]),
        pa.array([[[float(2 * i), float(2 * i + 1)]] for i in range(5)]).flatten(),
    ],
    ids=["fixed_size_list", "list", "flattened-list"],
)
def test_sliced_arrays_respect_their_offset(column: pa.Array) -> None:
    tensor = column_to_tensor(column.slice(1, 3), F2)
    np.testing.assert_array_equal(tensor, [[2, 3], [4, 5], [6, 7]])


def test_sliced_nested_list() -> None:
    rows = [[[i, i + 1], [i + 2, i + 3]] for i in range(0, 20, 4)]
    column = pa.array(rows, pa.list_(pa.list_(pa.float64())))
    tensor = column_to_tensor(column.slice(2, 2), TensorField(name="x", dtype="float64", shape=(2, 2)))
    np.testing.assert_array_equal(tensor, np.array(rows[2:4], np.float64))


def test_table_to_tensors_takes_only_the_fields_asked_for() -> None:
    table = pa.table({"x": fsl([1, 2, 3, 4], 2), "index": ["a", "b"], "s": [1, 2]})
    data = table_to_tensors(table, [F2, TensorField(name="s", dtype="float64")])
    assert list(data) == ["x", "s"]
    np.testing.assert_array_equal(data["x"], [[1, 2], [3, 4]])
    assert data["s"].dtype == np.float64
    np.testing.assert_array_equal(data["s"], [1.0, 2.0])


# --------------------------------------------------------------------------- tensor errors


def invalid(table: pa.Table, field: TensorField) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        table_to_tensors(table, [field])
    assert info.value.status == 400
    return info.value


def test_missing_column_names_it_and_what_was_sent() -> None:
    error = invalid(pa.table({"tensor": [1.0], "other": [2.0]}), F2)
    assert error.column == "x"
    assert "'x'" in error.expected and "float32[2]" in error.expected
    assert "tensor" in error.actual and "other" in error.actual


def test_strings_for_a_float_tensor() -> None:
    error = invalid(pa.table({"x": pa.array([["a", "b"]])}), F2)
    assert error.column == "x"
    assert error.expected == "float32[2]"
    assert "string" in error.actual


def test_ragged_lists() -> None:
    error = invalid(pa.table({"x": pa.array([[1.0, 2.0], [1.0]])}), F2)
    assert error.column == "x"
    assert "float32[2]" in error.expected
    assert "ragged" in error.expected
    assert "1" in error.actual and "2" in error.actual


def test_ragged_inner_lists() -> None:
    column = pa.array([[[1.0, 2.0], [3.0]]])
    error = invalid(pa.table({"x": column}), TensorField(name="x", dtype="float32", shape=(2, None)))
    assert error.column == "x"
    assert "ragged" in error.expected


def test_null_values_inside_lists() -> None:
    error = invalid(pa.table({"x": pa.array([[1.0, None], [3.0, 4.0]])}), F2)
    assert error.column == "x"
    assert "no nulls" in error.expected
    assert "1 null" in error.actual


def test_null_rows() -> None:
    error = invalid(pa.table({"x": pa.array([[1.0, 2.0], None, None])}), F2)
    assert error.column == "x"
    assert "no nulls" in error.expected
    assert "2 null" in error.actual


def test_null_scalars() -> None:
    error = invalid(pa.table({"s": pa.array([1.0, None])}), TensorField(name="s", dtype="float32"))
    assert error.column == "s"
    assert "null" in error.actual


def test_wrong_fixed_width() -> None:
    error = invalid(pa.table({"x": fsl([1, 2, 3], 3)}), F2)
    assert error.column == "x"
    assert error.expected == "float32[2]"
    assert "[3]" in error.actual


def test_wrong_list_length() -> None:
    error = invalid(pa.table({"x": pa.array([[1.0, 2.0, 3.0]])}), F2)
    assert error.expected == "float32[2]"
    assert "3" in error.actual


@pytest.mark.parametrize(
    "column,field",
    [
        (pa.array([1.0, 2.0]), F2),  # scalars for a vector
        (pa.array([[[1.0, 2.0]]]), F2),  # one dimension too many
        (pa.array([[1.0, 2.0]]), TensorField(name="x", dtype="float32")),  # vector for a scalar
    ],
    ids=["scalar-for-vector", "matrix-for-vector", "vector-for-scalar"],
)
def test_wrong_number_of_dimensions(column: pa.Array, field: TensorField) -> None:
    error = invalid(pa.table({"x": column}), field)
    assert error.column == "x"
    assert error.expected == field.describe()
    assert str(column.type) in error.actual


def test_empty_table() -> None:
    error = invalid(pa.table({"x": pa.array([], pa.list_(pa.float32()))}), F2)
    assert error.column is None
    assert "row" in error.expected
    assert "empty" in error.actual


def test_fractional_floats_into_an_int_tensor() -> None:
    field = TensorField(name="x", dtype="int64", shape=(2,))
    error = invalid(pa.table({"x": pa.array([[1.0, 2.5]])}), field)
    assert error.column == "x"
    assert error.expected == "int64[2]"
    assert "fraction" in error.actual


def test_numbers_for_a_string_tensor() -> None:
    error = invalid(pa.table({"s": pa.array([1, 2])}), TensorField(name="s", dtype="string"))
    assert error.expected == "string"
    assert "int64" in error.actual


# --------------------------------------------------------------------------- tensors out


def test_one_dimensional_arrays_give_scalar_columns() -> None:
    column = tensor_to_column(np.array([1.5, 2.5], np.float32))
    assert column.type == pa.float32()
    assert column.to_pylist() == [1.5, 2.5]
    assert tensor_to_column(np.array([1, 2], np.int64)).type == pa.int64()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(3, 2),
        np.arange(24, dtype=np.float64).reshape(2, 3, 4),
        np.arange(16, dtype=np.int32).reshape(2, 2, 2, 2),
        np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not C-contiguous
        np.zeros((2, 0), np.float32),
    ],
    ids=["2d", "3d", "4d", "transposed", "empty-rows"],
)
def test_n_dimensional_arrays_give_nested_non_null_lists(array: np.ndarray) -> None:
    column = tensor_to_column(array)
    assert column.type == nested_type(pa.from_numpy_dtype(array.dtype), array.ndim - 1)
    assert len(column) == array.shape[0]
    assert column.null_count == 0
    assert column.to_pylist() == array.tolist()


def test_zero_size_trailing_dimension_keeps_the_rows() -> None:
    array = np.zeros((2, 3, 0), np.float32)
    column = tensor_to_column(array)
    assert len(column) == 2
    assert column.to_pylist() == [[[], [], []], [[], [], []]]


def test_string_tensor_gives_string_lists() -> None:
    column = tensor_to_column(np.array([["a", "b"], ["c", "d"]], dtype=object))
    assert column.type == nested_type(pa.string(), 1)
    assert column.to_pylist() == [["a", "b"], ["c", "d"]]


@pytest.mark.parametrize(
    "array,field",
    [
        (np.arange(6, dtype=np.float32).reshape(3, 2), F2),
        (np.arange(12, dtype=np.float32).reshape(2, 2, 3), TensorField(name="x", dtype="float32", shape=(2, 3))),
        (np.array([4, 5, 6], np.int64), TensorField(name="x", dtype="int64")),
    ],
)
def test_tensor_column_round_trip(array: np.ndarray, field: TensorField) -> None:
    np.testing.assert_array_equal(column_to_tensor(tensor_to_column(array), field), array)


def test_tensors_to_columns_follows_the_names_order() -> None:
    data = {"a": np.array([1.0]), "b": np.array([[2.0, 3.0]]), "c": np.array([4])}
    columns = tensors_to_columns(data, ["b", "a"])
    assert list(columns) == ["b", "a"]
    assert columns["b"].to_pylist() == [[2.0, 3.0]]


# --------------------------------------------------------------------------- bodies


def sample_table() -> pa.Table:
    return pa.table({
        "tensor": fsl([1.5, 2.5, 3.5, 4.5], 2),
        "id": pa.array([1, 2], pa.int64()),
        "name": ["a", "b"],
    })


@pytest.mark.parametrize("kind,content_type", [("arrow", ARROW_FILE), ("arrow-stream", ARROW_STREAM)])
def test_arrow_body_round_trip(kind: str, content_type: str) -> None:
    table = sample_table()
    body, sent_type = write_body(table, kind)
    assert sent_type == content_type
    assert read_body(body, kind).equals(table)


def test_arrow_file_body_is_an_ipc_file() -> None:
    body, _ = write_body(sample_table(), "arrow")
    assert pa.ipc.open_file(pa.py_buffer(body)).read_all().equals(sample_table())


def test_json_body_round_trip() -> None:
    table = pa.table({"tensor": [[1.5, 2.5], [3.5, 4.5]], "id": [1, 2], "name": ["a", "b"]})
    body, content_type = write_body(table, "json")
    assert content_type == JSON_RECORDS
    assert orjson.loads(body) == [
        {"tensor": [1.5, 2.5], "id": 1, "name": "a"},
        {"tensor": [3.5, 4.5], "id": 2, "name": "b"},
    ]
    assert read_body(body, "json").to_pylist() == table.to_pylist()


def test_read_json_records_as_the_sdk_sends_them() -> None:
    table = read_body(b'[{"tensor":[1.0678324729,0.2177810266]},{"tensor":[1.0,2.0]}]', "json")
    assert table.column_names == ["tensor"]
    assert table.num_rows == 2
    tensors = table_to_tensors(table, [TensorField(name="tensor", dtype="float32", shape=(2,))])
    np.testing.assert_allclose(tensors["tensor"][0], [1.0678324729, 0.2177810266], rtol=1e-6)


def test_json_body_sends_time_as_integer_milliseconds() -> None:
    times = pa.array([1721686245906, 1721686245907], pa.timestamp("ms"))
    table = pa.table({"time": times, "out.y": [1.0, 2.0]})
    body, _ = write_body(table, "json")
    rows = orjson.loads(body)
    assert [row["time"] for row in rows] == [1721686245906, 1721686245907]
    assert all(type(row["time"]) is int for row in rows)


@pytest.mark.parametrize(
    "body,kind",
    [
        (b"{not json", "json"),
        (b'{"tensor": [1.0, 2.0]}', "json"),  # an object, not an array of rows
        (b"[1, 2]", "json"),  # an array, but not of row objects
        (b"[]", "json"),  # no rows
        (b"x" * 1000, "arrow"),
        (b"not arrow bytes at all", "arrow-stream"),
        (b"", "json"),
        (b"", "arrow"),
        (b"", "arrow-stream"),
    ],
)
def test_bad_bodies_are_invalid_input(body: bytes, kind: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        read_body(body, kind)
    assert info.value.status == 400
    assert info.value.column is None
    assert info.value.actual


def test_unparsable_json_says_so() -> None:
    with pytest.raises(InvalidInputError) as info:
        read_body(b"{not json", "json")
    assert "JSON" in info.value.expected
    assert "unparsable" in info.value.actual


def test_json_object_instead_of_array_says_so() -> None:
    with pytest.raises(InvalidInputError) as info:
        read_body(b'{"tensor": [1.0]}', "json")
    assert "array" in info.value.expected
    assert "dict" in info.value.actual


def test_empty_body_says_so() -> None:
    with pytest.raises(InvalidInputError) as info:
        read_body(b"", "arrow")
    assert info.value.actual == "0 bytes"


def test_an_arrow_stream_is_not_an_arrow_file() -> None:
    body, _ = write_body(sample_table(), "arrow-stream")
    with pytest.raises(InvalidInputError, match="Arrow IPC file"):
        read_body(body, "arrow")


@pytest.mark.parametrize(
    "content_type,kind",
    [
        ("application/json; format=pandas-records", "json"),
        ("application/json", "json"),
        ("application/vnd.apache.arrow.file", "arrow"),
        ("Application/Vnd.Apache.Arrow.File", "arrow"),
        ("application/vnd.apache.arrow.stream", "arrow-stream"),
    ],
)
def test_media_kind(content_type: str, kind: str) -> None:
    assert media_kind(content_type) == kind


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "", None])
def test_media_kind_rejects_other_types(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as info:
        media_kind(content_type)
    assert info.value.status == 415
    assert ARROW_FILE in str(info.value)


@pytest.mark.parametrize(
    "accept,request_kind,answer",
    [
        (ARROW_FILE, "json", "arrow"),
        (ARROW_STREAM, "json", "arrow-stream"),
        ("application/json", "arrow", "json"),
        (JSON_RECORDS, "arrow", "json"),
        ("text/html, application/vnd.apache.arrow.file;q=0.9", "json", "arrow"),
        (None, "arrow", "arrow"),
        (None, "json", "json"),
        ("", "arrow-stream", "arrow-stream"),
        ("*/*", "arrow", "arrow"),
    ],
)
def test_answer_kind_prefers_accept_else_the_request_kind(accept: str | None, request_kind: str,
                                                          answer: str) -> None:
    assert answer_kind(accept, request_kind) == answer


# --------------------------------------------------------------------------- result tables

TIME_MS = 1721686245906
METADATA = Metadata(
    last_model='{"model_name":"ccfraud","model_sha":"bc85"}',
    pipeline_version="f1a270ed-867c-407d-9b15-c0584db7c463",
    elapsed_ns=[55835, 405277],
    dropped=[],
    partition="engine-7bb66ff98f-n2kxp",
)
METADATA_NAMES = ["metadata.last_model", "metadata.pipeline_version", "metadata.elapsed",
                  "metadata.dropped", "metadata.partition"]


def request_table() -> pa.Table:
    return pa.table({"tensor": fsl([1.0, 2.0, 3.0, 4.0], 2), "index": ["r0", "r1"]})


def outputs() -> dict[str, pa.Array]:
    return {
        "dense_1": tensor_to_column(np.array([[0.25], [0.75]], np.float32)),
        "label": tensor_to_column(np.array([1, 0], np.int64)),
    }


def flat(wanted: DatasetFilter | None = None, anomalies: dict[str, pa.Array] | None = None,
         metadata: Metadata | None = METADATA) -> pa.Table:
    return assemble(TIME_MS, request_table(), outputs(), anomalies or {}, metadata,
                    wanted or DatasetFilter())


def test_assemble_columns_order_and_types() -> None:
    table = flat()
    assert table.column_names == [
        "time", "in.tensor", "in.index", "out.dense_1", "out.label", "anomaly.count", *METADATA_NAMES,
    ]
    schema = table.schema
    assert schema.field("time").type == pa.timestamp("ms")
    assert not schema.field("time").nullable
    assert schema.field("in.tensor").type == pa.list_(pa.float32())
    assert schema.field("in.index").type == pa.string()
    assert schema.field("out.dense_1").type == nested_type(pa.float32(), 1)
    assert not schema.field("out.dense_1").nullable
    assert not schema.field("out.label").nullable
    assert schema.field("anomaly.count").type == pa.uint32()
    assert not schema.field("anomaly.count").nullable
    assert schema.field("metadata.last_model").type == pa.string()
    assert schema.field("metadata.pipeline_version").type == pa.string()
    elapsed = schema.field("metadata.elapsed").type
    assert pa.types.is_list(elapsed) and elapsed.value_type == pa.uint64()
    dropped = schema.field("metadata.dropped").type
    assert pa.types.is_list(dropped) and dropped.value_type == pa.string()
    assert schema.field("metadata.partition").type == pa.string()
    for name in METADATA_NAMES:
        assert not schema.field(name).nullable


def test_assemble_values() -> None:
    table = flat()
    assert table.num_rows == 2
    assert table.column("time").cast(pa.int64()).to_pylist() == [TIME_MS, TIME_MS]
    assert table.column("in.tensor").to_pylist() == [[1.0, 2.0], [3.0, 4.0]]
    assert table.column("in.index").to_pylist() == ["r0", "r1"]
    assert table.column("out.dense_1").to_pylist() == [[0.25], [0.75]]
    assert table.column("out.label").to_pylist() == [1, 0]
    assert table.column("anomaly.count").to_pylist() == [0, 0]
    assert table.column("metadata.last_model").to_pylist() == [METADATA.last_model] * 2
    assert table.column("metadata.pipeline_version").to_pylist() == [METADATA.pipeline_version] * 2
    assert table.column("metadata.elapsed").to_pylist() == [[55835, 405277]] * 2
    assert table.column("metadata.dropped").to_pylist() == [[], []]
    assert table.column("metadata.partition").to_pylist() == [METADATA.partition] * 2


def test_assemble_counts_anomalies_per_row() -> None:
    anomalies = {"too_high": pa.array([True, False]), "fraud": pa.array([True, True])}
    table = flat(anomalies=anomalies)
    assert table.column("anomaly.count").to_pylist() == [2, 1]
    assert table.column("anomaly.fraud").to_pylist() == [True, True]
    assert table.column_names.index("anomaly.count") < table.column_names.index("anomaly.fraud")
    assert table.column_names.index("anomaly.too_high") < table.column_names.index("metadata.last_model")


def test_assemble_without_metadata() -> None:
    assert not [n for n in flat(metadata=None).column_names if n.startswith("metadata")]


@pytest.mark.parametrize(
    "wanted,names",
    [
        (DatasetFilter(("time", "out")), ["time", "out.dense_1", "out.label"]),
        (DatasetFilter(("*",), ("in",)),
         ["time", "out.dense_1", "out.label", "anomaly.count", *METADATA_NAMES]),
        (DatasetFilter(("out.label",)), ["out.label"]),
        (DatasetFilter(("time", "out.dense_1", "anomaly.count")),
         ["time", "out.dense_1", "anomaly.count"]),
        (DatasetFilter(("*",), ("out.label", "metadata")),
         ["time", "in.tensor", "in.index", "out.dense_1", "anomaly.count"]),
        (DatasetFilter(("metadata",)), METADATA_NAMES),
        (DatasetFilter.for_sdk(None, None),
         ["time", "in.tensor", "in.index", "out.dense_1", "out.label", "anomaly.count"]),
        (DatasetFilter.for_sdk(["time", "out", "metadata"], None),
         ["time", "out.dense_1", "out.label", *METADATA_NAMES]),
        (DatasetFilter.for_sdk(None, ["in", "anomaly"]), ["time", "out.dense_1", "out.label"]),
    ],
    ids=["groups", "exclude-in", "one-field", "fields", "exclude-field", "metadata-only",
         "sdk-default", "sdk-metadata", "sdk-exclude"],
)
def test_dataset_filter_selects_groups_and_fields(wanted: DatasetFilter, names: list[str]) -> None:
    assert flat(wanted).column_names == names


def test_sdk_filter_adds_metadata_exclusion_unless_listed() -> None:
    assert "metadata" in DatasetFilter.for_sdk(None, None).exclude
    assert "metadata" in DatasetFilter.for_sdk(["time", "out"], ["in"]).exclude
    assert "in" in DatasetFilter.for_sdk(["time", "out"], ["in"]).exclude
    assert "metadata" not in DatasetFilter.for_sdk(["metadata"], None).exclude


def test_dataset_filter_selects_a_single_metadata_field() -> None:
    assert flat(DatasetFilter(("time", "metadata.elapsed"))).column_names == ["time", "metadata.elapsed"]


def test_included_field_beats_its_excluded_group() -> None:
    # WALLAROO_REFERENCE §5.1: dataset_exclude=['anomaly'],
    # dataset=['time','in','out','anomaly.count'] returns time, in.*, out.*, anomaly.count.
    wanted = DatasetFilter.for_sdk(["time", "in", "out", "anomaly.count"], ["anomaly"])
    table = flat(wanted, anomalies={"fraud": pa.array([True, False])})
    assert table.column_names == ["time", "in.tensor", "in.index", "out.dense_1", "out.label",
                                  "anomaly.count"]


def test_shape_nests_groups_into_structs() -> None:
    table = flat()
    nested = shape(table, None)
    assert nested.column_names == ["time", "in", "out", "anomaly", "metadata"]
    assert nested.schema.field("time").type == pa.timestamp("ms")
    for group in ("in", "out", "anomaly", "metadata"):
        assert pa.types.is_struct(nested.schema.field(group).type)
    in_type = nested.schema.field("in").type
    assert [in_type.field(i).name for i in range(in_type.num_fields)] == ["tensor", "index"]
    out_type = nested.schema.field("out").type
    assert out_type.field("dense_1").type == nested_type(pa.float32(), 1)
    rows = nested.to_pylist()
    assert rows[1]["in"] == {"tensor": [3.0, 4.0], "index": "r1"}
    assert rows[1]["out"] == {"dense_1": [0.75], "label": 0}
    assert rows[0]["anomaly"] == {"count": 0}
    assert rows[0]["metadata"]["elapsed"] == [55835, 405277]
    assert rows[0]["metadata"]["partition"] == METADATA.partition
    assert nested.column("time").cast(pa.int64()).to_pylist() == [TIME_MS, TIME_MS]


def test_shape_nested_to_json_matches_the_reference_body() -> None:
    body, _ = write_body(shape(flat(), None), "json")
    row = orjson.loads(body)[0]
    assert row["time"] == TIME_MS
    assert row["in"] == {"tensor": [1.0, 2.0], "index": "r0"}
    assert row["out"] == {"dense_1": [0.25], "label": 1}
    assert row["anomaly"] == {"count": 0}
    assert set(row["metadata"]) == {"last_model", "pipeline_version", "elapsed", "dropped", "partition"}


def test_shape_with_a_separator_renames_the_first_dot() -> None:
    table = flat()
    underscored = shape(table, "_")
    assert underscored.column_names == [n.replace(".", "_", 1) for n in table.column_names]
    assert "in_tensor" in underscored.column_names
    assert "metadata_last_model" in underscored.column_names
    assert underscored.column("in_tensor").equals(table.column("in.tensor"))
    assert shape(table, ".").equals(table)


def test_shape_nests_a_chunked_table() -> None:
    table = pa.concat_tables([flat(), flat()])
    nested = shape(table, None)
    assert nested.num_rows == 4
    assert [r["out"]["label"] for r in nested.to_pylist()] == [1, 0, 1, 0]


def test_sdk_column_order_reference_example() -> None:
    names = ["anomaly.count", "in.cust_known", "in.UnitsSold", "time", "in.UnitPrice",
             "out.variable", "in.StockCode", "in.Date"]
    assert sdk_column_order(names) == [
        "time", "in.Date", "in.StockCode", "in.UnitPrice", "in.UnitsSold", "in.cust_known",
        "out.variable", "anomaly.count",
    ]


def test_sdk_column_order_sorts_the_rest_by_field_name_stably() -> None:
    names = ["metadata.partition", "out_challenger.variable", "metadata.elapsed", "anomaly.count",
             "out.variable", "anomaly.variable", "out._model_split", "time", "in.tensor"]
    assert sdk_column_order(names) == [
        "time", "in.tensor", "out._model_split", "out.variable",
        "anomaly.count", "metadata.elapsed", "metadata.partition",
        "out_challenger.variable", "anomaly.variable",  # equal field names keep their order
    ]


def test_sdk_column_order_aloha_outputs() -> None:
    outs = ["out.main", "out.corebot", "out.banjori", "out.kraken"]
    names = ["time", "in.text_input", *outs, "anomaly.count"]
    assert sdk_column_order(names) == ["time", "in.text_input", *sorted(outs), "anomaly.count"]


# --------------------------------------------------------------------------- pandas edge


def test_table_to_dataframe() -> None:
    table = flat()
    frame = table_to_dataframe(table)
    assert list(frame.columns) == sdk_column_order(table.column_names)
    assert str(frame["time"].dtype) == "datetime64[ms]"
    assert frame["time"][0] == pd.Timestamp(TIME_MS, unit="ms")
    assert frame["in.tensor"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(frame["in.tensor"][0], list)
    assert isinstance(frame["out.dense_1"][0], list)
    assert frame["out.dense_1"].tolist() == [[0.25], [0.75]]
    assert isinstance(frame["metadata.elapsed"][0], list)
    assert frame["out.label"].tolist() == [1, 0]
    assert frame["anomaly.count"].tolist() == [0, 0]
    assert len(frame) == 2


def test_dataframe_to_table_gives_list_of_double() -> None:
    frame = pd.DataFrame({"tensor": [[1.0, 2.0], [3.0, 4.0]], "id": [1, 2]})
    table = dataframe_to_table(frame)
    assert table.column_names == ["tensor", "id"]
    assert table.schema.field("tensor").type == pa.list_(pa.float64())
    assert table.column("tensor").to_pylist() == [[1.0, 2.0], [3.0, 4.0]]
    data = table_to_tensors(table, [TensorField(name="tensor", dtype="float32", shape=(2,))])
    assert data["tensor"].dtype == np.float32


def test_dataframe_to_table_drops_the_index() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=[5, 7])
    assert dataframe_to_table(frame).column_names == ["x"]


def test_dataframe_to_table_rejects_an_empty_frame() -> None:
    with pytest.raises(InvalidInputError) as info:
        dataframe_to_table(pd.DataFrame({"tensor": []}))
    assert "row" in info.value.expected
    assert "empty" in info.value.actual


def test_json_records_with_keys_some_rows_leave_out_are_null_there() -> None:
    from joey.tables import read_body

    table = read_body(b'[{"a": 1}, {"a": 2, "b": "x"}, {"b": "y"}]', "json")
    assert table.column_names == ["a", "b"]
    assert table.column("a").to_pylist() == [1, 2, None]
    assert table.column("b").to_pylist() == [None, "x", "y"]
