"""Scoring requests: each way a client can get a request wrong, and the formats that work."""

import json

import numpy as np
import pytest

from ml_pipeline.serving.inputs import (
    InputSchema,
    RequestError,
    conform,
    parse_csv,
    parse_mlflow_json,
    parse_records_json,
)

SIGNATURE = [
    {"name": "record_id", "type": "string", "required": False},
    {"name": "timestamp", "type": "string", "required": True},
    {"name": "station", "type": "string", "required": True},
    {"name": "holiday", "type": "long", "required": True},
    {"name": "temp", "type": "double", "required": True},
]
USED = ["timestamp", "station", "holiday", "temp"]
SCHEMA = InputSchema.from_signature(SIGNATURE, "timestamp", USED)
ROW = {
    "record_id": "r1",
    "timestamp": "2024-01-01 05:00:00",
    "station": "S01",
    "holiday": 0,
    "temp": 3.5,
}


def score_records(records: list[dict], max_rows: int = 100):
    return conform(parse_records_json(json.dumps(records).encode(), SCHEMA, max_rows), SCHEMA)


def refusal(records: list[dict]) -> RequestError:
    with pytest.raises(RequestError) as raised:
        score_records(records)
    return raised.value


def test_the_four_mlflow_formats_and_plain_records_read_the_same_rows() -> None:
    second = {**ROW, "station": "S02", "temp": None}
    rows = [ROW, second]
    columns = list(ROW)
    bodies = [
        {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": {c: [r[c] for r in rows] for c in columns}},
    ]
    expected = score_records(rows)
    for body in bodies:
        parsed = conform(parse_mlflow_json(json.dumps(body).encode(), SCHEMA, 100), SCHEMA)
        assert parsed.count == 2
        assert parsed.columns.keys() == expected.columns.keys()
        for name, values in expected.columns.items():
            assert [str(v) for v in parsed.columns[name]] == [str(v) for v in values], name
    assert expected.columns["station"] == ["S01", "S02"]
    assert np.isnan(expected.columns["temp"][1])


def test_csv_bodies_keep_text_columns_as_text() -> None:
    body = b"timestamp,station,holiday,temp\n2024-01-01 05:00:00,7,1,2.5\n"
    rows = conform(parse_csv(body, SCHEMA, 100), SCHEMA)
    assert rows.columns["station"] == ["7"]
    assert rows.columns["holiday"] == [1]


def test_unused_and_unknown_columns_are_accepted_and_ignored() -> None:
    rows = score_records([{**ROW, "record_id": 12345, "count": 3, "anything": [1]}])
    assert set(rows.columns) == set(USED)


def test_whole_numbers_sent_as_floats_are_accepted() -> None:
    assert score_records([{**ROW, "holiday": 1.0}]).columns["holiday"] == [1]


def test_missing_column_is_named() -> None:
    error = refusal([{k: v for k, v in ROW.items() if k != "temp"}])
    assert error.status == 422
    assert "missing required column 'temp'" in error.message


def test_text_in_a_number_column_is_named_with_its_row() -> None:
    error = refusal([ROW, {**ROW, "temp": "warm"}])
    assert error.status == 422
    assert "'temp'" in error.message and "'warm'" in error.message and "row 1" in error.message


def test_boolean_in_a_number_column_is_refused() -> None:
    assert "'temp'" in refusal([{**ROW, "temp": True}]).message


def test_a_number_in_a_text_column_is_read_as_the_models_text_for_it() -> None:
    rows = score_records([{**ROW, "station": 7}, {**ROW, "station": 7.0}, {**ROW, "station": 0.5}])
    assert rows.columns["station"] == ["7", "7", "0.5"]


def test_an_object_in_a_text_column_is_refused() -> None:
    error = refusal([{**ROW, "station": {"id": 7}}])
    assert "'station'" in error.message and "expected text" in error.message


def test_fraction_in_a_whole_number_column_is_refused() -> None:
    assert "expected a whole number" in refusal([{**ROW, "holiday": 0.5}]).message


def test_null_where_the_model_takes_none_is_refused() -> None:
    error = refusal([{**ROW, "holiday": None}])
    assert error.status == 422
    assert "'holiday' must not be null" in error.message


def test_nan_where_the_model_takes_none_is_refused() -> None:
    body = b'[{"timestamp": "2024-01-01", "station": "S", "holiday": NaN, "temp": 1}]'
    with pytest.raises(RequestError, match="'holiday' must not be null or NaN"):
        conform(parse_records_json(body, SCHEMA, 10), SCHEMA)


@pytest.mark.parametrize("number", [b"Infinity", b"-Infinity", b"1e400", b"1" + b"0" * 400])
def test_a_non_finite_number_is_read_as_missing(number: bytes) -> None:
    body = b'[{"timestamp": "2024-01-01", "station": "S", "holiday": 0, "temp": %s}]' % number
    rows = conform(parse_records_json(body, SCHEMA, 10), SCHEMA)
    assert np.isnan(rows.columns["temp"]).all()


def test_unreadable_timestamp_is_refused() -> None:
    assert (
        "'timestamp': expected a date and time" in refusal([{**ROW, "timestamp": "soon"}]).message
    )


@pytest.mark.parametrize(
    "stamp", ["2024-02-30 05:00:00", "2024-13-01 05:00:00", "2024-01-01 25:00:00"]
)
def test_an_impossible_date_in_the_plain_form_is_refused_with_its_row(stamp: str) -> None:
    rows = [ROW, {**ROW, "timestamp": stamp}]
    message = refusal(rows).message
    assert "'timestamp': expected a date and time" in message and "row 1" in message


def test_a_null_timestamp_is_accepted_for_the_model_to_impute() -> None:
    assert score_records([{**ROW, "timestamp": None}]).columns["timestamp"] == [None]


def test_any_typed_columns_take_their_kind_from_the_model() -> None:
    schema = InputSchema.from_signature(
        [{"name": "temp", "type": "any"}, {"name": "station", "type": "any"}],
        None,
        None,
        numeric_columns=["temp"],
    )
    kinds = {c.name: (c.type, c.nullable) for c in schema.columns}
    assert kinds == {"temp": ("double", True), "station": ("string", True)}
    rows = conform(parse_records_json(b'[{"temp": 3, "station": 4}]', schema, 10), schema)
    assert rows.columns == {"temp": [3.0], "station": ["4"]}


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_empty_body_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(RequestError, match="body is empty") as raised:
        parse_mlflow_json(body, SCHEMA, 10)
    assert raised.value.status == 400


def test_invalid_json_is_a_bad_request() -> None:
    with pytest.raises(RequestError, match="not valid JSON") as raised:
        parse_mlflow_json(b'{"dataframe_records": [', SCHEMA, 10)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    "body",
    [
        {"rows": [ROW]},
        {"dataframe_records": [ROW], "instances": [ROW]},
        {"dataframe_records": [ROW], "extra": 1},
        [ROW],
    ],
)
def test_bodies_outside_the_mlflow_protocol_are_bad_requests(body: object) -> None:
    with pytest.raises(RequestError) as raised:
        parse_mlflow_json(json.dumps(body).encode(), SCHEMA, 10)
    assert raised.value.status == 400


def test_ragged_split_rows_are_bad_requests() -> None:
    body = {"dataframe_split": {"columns": ["timestamp", "temp"], "data": [["2024-01-01"]]}}
    with pytest.raises(RequestError, match=r"data\[0\] must be a list of 2 values"):
        parse_mlflow_json(json.dumps(body).encode(), SCHEMA, 10)


def test_no_rows_is_unprocessable() -> None:
    with pytest.raises(RequestError, match="no rows") as raised:
        parse_mlflow_json(b'{"dataframe_records": []}', SCHEMA, 10)
    assert raised.value.status == 422


def test_more_rows_than_the_limit_is_413() -> None:
    with pytest.raises(RequestError, match="11 rows exceed the limit of 10") as raised:
        parse_records_json(json.dumps([ROW] * 11).encode(), SCHEMA, 10)
    assert raised.value.status == 413


def test_more_csv_rows_than_the_limit_is_413() -> None:
    body = b"timestamp,station,holiday,temp\n" + b"2024-01-01,S,0,1\n" * 11
    with pytest.raises(RequestError) as raised:
        parse_csv(body, SCHEMA, 10)
    assert raised.value.status == 413


def test_schema_for_the_openapi_document_follows_the_signature() -> None:
    record = SCHEMA.record_json_schema()
    assert record["required"] == USED
    assert record["properties"]["holiday"]["type"] == "integer"
    assert record["properties"]["timestamp"]["format"] == "date-time"
    assert record["properties"]["temp"] == {"type": ["number", "null"]}
    assert "type" not in record["properties"]["record_id"]


def test_unsupported_signature_types_are_refused_at_load() -> None:
    with pytest.raises(ValueError, match="unsupported type 'binary'"):
        InputSchema.from_signature([{"name": "blob", "type": "binary"}], None)


def test_whole_numbers_beyond_64_bits_are_refused() -> None:
    assert "64-bit" in refusal([{**ROW, "holiday": 2**63}]).message


def test_timestamps_keep_their_wall_clock_time_in_one_form() -> None:
    stamps = ["2024-01-01T05:00:00+09:00", "2024-01-01 06:30:00", "2024-01-01T07:00:00Z"]
    rows = score_records([{**ROW, "timestamp": stamp} for stamp in stamps])
    assert rows.columns["timestamp"] == [
        "2024-01-01 05:00:00",
        "2024-01-01 06:30:00",
        "2024-01-01 07:00:00",
    ]
