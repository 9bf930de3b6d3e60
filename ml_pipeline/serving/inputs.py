"""Scoring requests: the MLflow protocol parsed, and rows checked against the signature.

Everything a client can get wrong ends here as a :class:`RequestError` with a
4xx status and one sentence naming the column (and row) at fault, before the
model sees a single row. Nothing here imports the web framework.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.core.features import category_text

MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
NUMBER_TYPES = {"double", "float"}
WHOLE_TYPES = {"long", "integer"}
SUPPORTED_TYPES = NUMBER_TYPES | WHOLE_TYPES | {"string", "boolean", "datetime", "any"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class RequestError(ValueError):
    """A request the service refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _unprocessable(message: str) -> RequestError:
    return RequestError(422, message)


@dataclass(frozen=True)
class InputColumn:
    name: str
    type: str
    required: bool
    nullable: bool
    # Identifier and leakage columns: accepted as landed, never checked or scored.
    used: bool = True


@dataclass(frozen=True)
class InputSchema:
    """The columns a model accepts, from its MLflow signature."""

    columns: tuple[InputColumn, ...]
    timestamp_column: str | None = None
    # The client's row identifier, echoed in answers and logged to join late labels.
    id_column: str | None = None

    @classmethod
    def from_signature(
        cls,
        inputs: list[dict[str, Any]],
        timestamp_column: str | None,
        used_columns: list[str] | None = None,
        numeric_columns: list[str] | None = None,
        id_column: str | None = None,
    ) -> InputSchema:
        """Build from ``signature.inputs.to_dict()``: name, type and required per column.

        ``used_columns`` are the columns the model reads (all, if not given); the
        others are accepted and ignored whatever they hold. A column the signature
        declares ``any`` is a number if it is in ``numeric_columns``, else text.

        Numbers, text and timestamps may be missing: the model imputes them. Models
        whose signature declared whole-number or boolean columns never saw a missing
        value there, so a null in those is refused.
        """
        numeric = set(numeric_columns or [])
        columns = []
        for spec in inputs:
            kind = spec.get("type")
            name = spec.get("name")
            if kind not in SUPPORTED_TYPES or not name:
                raise ValueError(f"signature column {name!r} has unsupported type {kind!r}")
            if kind == "any":
                kind = "double" if name in numeric else "string"
            nullable = kind in NUMBER_TYPES | {"string", "datetime"}
            used = used_columns is None or name in used_columns
            required = bool(spec.get("required", True)) and used
            columns.append(InputColumn(name, kind, required, nullable, used))
        return cls(tuple(columns), timestamp_column, id_column)

    def record_json_schema(self) -> dict[str, Any]:
        """One row as JSON Schema, for the OpenAPI document."""
        properties = {}
        for column in self.columns:
            if not column.used:
                properties[column.name] = {"description": "accepted and ignored"}
                continue
            kind = {"double": "number", "float": "number", "long": "integer"}.get(column.type)
            kind = kind or {"integer": "integer", "boolean": "boolean"}.get(column.type, "string")
            schema: dict[str, Any] = {"type": [kind, "null"] if column.nullable else kind}
            is_time = column.name == self.timestamp_column or column.type == "datetime"
            if kind == "string" and not is_time:
                # A category may come as a number (a code); it is read as its text.
                schema["type"] = ["string", "number", "null"]
            if kind == "integer":
                schema.update(minimum=INT64_MIN, maximum=INT64_MAX)
            if column.name == self.timestamp_column or column.type == "datetime":
                # Any ISO 8601 form is accepted; the document names the strictest.
                schema["format"] = "date-time"
                schema["description"] = "date and time, e.g. 2024-01-31 17:00:00"
            properties[column.name] = schema
        return {
            "type": "object",
            "properties": properties,
            "required": [c.name for c in self.columns if c.required],
        }

    def used(self) -> list[InputColumn]:
        return [column for column in self.columns if column.used]

    def read(self) -> list[str]:
        """The columns a parser takes from a request: those the model reads, and the id."""
        names = [column.name for column in self.used()]
        if self.id_column is not None and self.id_column not in names:
            names.append(self.id_column)
        return names


@dataclass(frozen=True)
class Rows:
    """Checked rows as plain per-column lists, for the columns the model reads.

    Lists rather than a DataFrame: building a frame per request costs more than
    scoring a row, so the batcher joins the lists of many requests and builds one.
    """

    count: int
    columns: dict[str, list[Any]]
    # One id per row: the client's, or one the service made up.
    ids: list[str] = field(default_factory=list)

    def head(self, limit: int) -> dict[str, list[Any]]:
        return {name: values[:limit] for name, values in self.columns.items()}

    @staticmethod
    def join(parts: list[Rows]) -> Rows:
        if len(parts) == 1:
            return parts[0]
        names = list(dict.fromkeys(name for part in parts for name in part.columns))
        columns = {
            name: list(
                itertools.chain.from_iterable(
                    part.columns.get(name) or [None] * part.count for part in parts
                )
            )
            for name in names
        }
        ids = list(itertools.chain.from_iterable(part.ids for part in parts))
        return Rows(sum(part.count for part in parts), columns, ids)

    def frame(self, schema: InputSchema) -> pd.DataFrame:
        types = {column.name: column.type for column in schema.columns}
        index = pd.RangeIndex(self.count)
        data: dict[str, Any] = {}
        for name, values in self.columns.items():
            kind = types.get(name)
            if kind in NUMBER_TYPES:
                data[name] = np.asarray(values, dtype="float64")
            elif kind in WHOLE_TYPES:
                data[name] = np.asarray(values, dtype="int64")
            elif kind == "boolean":
                data[name] = np.asarray(values, dtype=bool)
            else:
                # Object, as the model's feature step reads text; left to itself pandas
                # would first convert the column to its Arrow string type.
                data[name] = pd.Series(values, dtype=object, index=index)
        return pd.DataFrame(data, index=index)


@dataclass(frozen=True)
class RawRows:
    """What a request holds, per column the model reads, before any check."""

    count: int
    columns: dict[str, list[Any]]


_ABSENT = object()


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise RequestError(400, "the request body is empty")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"the request body is not valid JSON: {error}") from None


def _check_rows(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise RequestError(413, f"{count} rows exceed the limit of {max_rows} rows per request")
    if count == 0:
        raise _unprocessable("the request holds no rows to score")


def _records(items: Any, where: str, schema: InputSchema, max_rows: int) -> RawRows:
    if not isinstance(items, list):
        raise RequestError(400, f"{where} must be a list of records (JSON objects)")
    _check_rows(len(items), max_rows)
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(400, f"{where}[{position}] is not a JSON object")
    columns = {}
    for name in schema.read():
        values = [item.get(name, _ABSENT) for item in items]
        if any(value is not _ABSENT for value in values):
            # A key one record leaves out is a null there, as in a DataFrame.
            columns[name] = [None if v is _ABSENT else v for v in values]
    return RawRows(len(items), columns)


def _split(payload: Any, schema: InputSchema, max_rows: int) -> RawRows:
    if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list):
        raise RequestError(400, "dataframe_split must be an object with 'columns' and 'data'")
    names, data = payload["columns"], payload.get("data")
    if not all(isinstance(name, str) for name in names):
        raise RequestError(400, "dataframe_split.columns must be a list of column names")
    if len(set(names)) != len(names):
        raise RequestError(400, "dataframe_split.columns names a column more than once")
    if not isinstance(data, list):
        raise RequestError(400, "dataframe_split.data must be a list of rows")
    _check_rows(len(data), max_rows)
    for position, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            raise RequestError(
                400, f"dataframe_split.data[{position}] must be a list of {len(names)} values"
            )
    where = {name: position for position, name in enumerate(names)}
    columns = {name: [row[where[name]] for row in data] for name in schema.read() if name in where}
    return RawRows(len(data), columns)


def _columnar(payload: dict[str, Any], where: str, schema: InputSchema, max_rows: int) -> RawRows:
    lengths = set()
    for name, values in payload.items():
        if not isinstance(values, list):
            raise RequestError(400, f"{where}.{name} must be a list of values")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise RequestError(400, f"the columns of {where} have different lengths")
    count = lengths.pop() if lengths else 0
    _check_rows(count, max_rows)
    columns = {name: payload[name] for name in schema.read() if name in payload}
    return RawRows(count, columns)


def parse_mlflow_json(body: bytes, schema: InputSchema, max_rows: int) -> RawRows:
    """A body in the MLflow scoring protocol: the rows it holds."""
    payload = _load_json(body)
    if not isinstance(payload, dict):
        raise RequestError(
            400, f"the body must be a JSON object with one of: {', '.join(MLFLOW_FORMATS)}"
        )
    given = [key for key in MLFLOW_FORMATS if key in payload]
    unknown = sorted(set(payload) - {*MLFLOW_FORMATS, "params"})
    if len(given) != 1 or unknown:
        found = ", ".join(sorted(payload)) or "nothing"
        raise RequestError(
            400, f"the body must hold exactly one of {', '.join(MLFLOW_FORMATS)}; found {found}"
        )
    if payload.get("params"):
        raise RequestError(400, "this model takes no params")
    key = given[0]
    if key == "dataframe_split":
        return _split(payload[key], schema, max_rows)
    if key != "dataframe_records" and isinstance(payload[key], dict):
        return _columnar(payload[key], key, schema, max_rows)
    return _records(payload[key], key, schema, max_rows)


def parse_records_json(body: bytes, schema: InputSchema, max_rows: int) -> RawRows:
    """A body that is a plain JSON list of records."""
    return _records(_load_json(body), "the body", schema, max_rows)


def parse_csv(body: bytes, schema: InputSchema, max_rows: int) -> RawRows:
    """A CSV body with a header row; text columns are read as text, never as numbers."""
    if not body.strip():
        raise RequestError(400, "the request body is empty")
    text_columns = {c.name: "str" for c in schema.columns if c.type in ("string", "datetime")}
    if schema.id_column is not None:
        text_columns[schema.id_column] = "str"
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=text_columns, nrows=max_rows + 1)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RequestError(400, f"the CSV body could not be read: {first_line}") from None
    if frame.columns.has_duplicates:
        raise RequestError(400, "the CSV header names a column more than once")
    _check_rows(len(frame), max_rows)
    columns = {
        name: [None if pd.isna(v) else v for v in frame[name].tolist()]
        for name in schema.read()
        if name in frame.columns
    }
    return RawRows(len(frame), columns)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _wrong(column: InputColumn, expected: str, value: Any, row: int) -> RequestError:
    return _unprocessable(
        f"column {column.name!r}: expected {expected}, got {_describe(value)} (row {row})"
    )


def _is_null(value: Any) -> bool:
    return value is None or (type(value) is float and math.isnan(value))


def _numbers(column: InputColumn, values: list[Any]) -> list[float]:
    out = []
    for row, value in enumerate(values):
        kind = type(value)
        if kind is float or kind is int:
            # Infinite or too large for float64: missing, as every reader of numbers
            # makes it (features.finite_or_missing), not a refused request.
            try:
                number = float(value)
            except OverflowError:
                number = math.nan
            out.append(number if math.isfinite(number) else math.nan)
        elif value is None:
            out.append(math.nan)
        else:
            raise _wrong(column, "a number", value, row)
    return out


def _whole_numbers(column: InputColumn, values: list[Any]) -> list[int]:
    out = []
    for row, value in enumerate(values):
        kind = type(value)
        if kind is float and math.isfinite(value) and value.is_integer():
            value, kind = int(value), int
        if kind is not int:
            raise _wrong(column, "a whole number", value, row)
        if not INT64_MIN <= value <= INT64_MAX:
            raise _wrong(column, "a 64-bit whole number", value, row)
        out.append(value)
    return out


def _texts(column: InputColumn, values: list[Any]) -> list[Any]:
    """Text as it is; a number (a code a client's reader took for one) as the model's
    own text for it, so 7 and 7.0 both mean the category "7"."""
    out = list(values)
    for row, value in enumerate(values):
        kind = type(value)
        if kind is str or value is None:
            continue
        if kind is int or kind is float:
            out[row] = None if _is_null(value) else category_text(value)
        else:
            raise _wrong(column, "text", value, row)
    return out


def _booleans(column: InputColumn, values: list[Any]) -> list[bool]:
    for row, value in enumerate(values):
        if type(value) is not bool:
            raise _wrong(column, "true or false", value, row)
    return values


def _wall_clock(value: str) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        # Not ISO 8601: accept whatever the model's own parser accepts.
        parsed = pd.to_datetime(value, errors="coerce", format="mixed")
        if pd.isna(parsed):
            return None
        stamp = parsed.to_pydatetime()
    return stamp.replace(tzinfo=None)


def _is_plain_iso(value: object) -> bool:
    """``value`` is a valid date and time already in the form conforming gives it
    ("YYYY-MM-DD HH:MM:SS", no offset): the usual case, kept as it is; a large part of
    a 100-row request's checks went on parsing and re-printing it."""
    if not isinstance(value, str) or len(value) != 19:
        return False
    if value[10] != " " or value[4] != "-" or value[13] != ":":
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _timestamps(column: InputColumn, values: list[Any]) -> list[str]:
    """Timestamps as plain ISO text in their own wall-clock time.

    Calendar features describe local time, as the training files held it; a UTC
    offset is dropped, not converted. One form also spares the model's parser
    rows that mix offsets, which it refuses.
    """
    out = []
    for row, value in enumerate(values):
        if value is None:  # a missing timestamp: the model imputes its calendar features
            out.append(None)
            continue
        if _is_plain_iso(value):
            out.append(value)
            continue
        stamp = _wall_clock(value)
        if stamp is None:
            raise _wrong(column, "a date and time", value, row)
        out.append(stamp.isoformat(sep=" "))
    return out


def _check(column: InputColumn, values: list[Any]) -> list[Any]:
    if not column.nullable:
        for row, value in enumerate(values):
            if _is_null(value):
                raise _unprocessable(f"column {column.name!r} must not be null or NaN (row {row})")
    if column.type in NUMBER_TYPES:
        return _numbers(column, values)
    if column.type in WHOLE_TYPES:
        return _whole_numbers(column, values)
    if column.type == "boolean":
        return _booleans(column, values)
    return _texts(column, values)


def conform(raw: RawRows, schema: InputSchema) -> Rows:
    """The columns the model reads, checked against their declared types.

    Raises :class:`RequestError` (422) naming the first column that is missing, of
    the wrong type, or null where the model cannot take a null.
    """
    columns: dict[str, list[Any]] = {}
    for column in schema.used():
        values = raw.columns.get(column.name)
        if values is None:
            if column.required:
                raise _unprocessable(f"missing required column {column.name!r}")
            continue
        columns[column.name] = _check(column, values)
        if column.name == schema.timestamp_column or column.type == "datetime":
            columns[column.name] = _timestamps(column, columns[column.name])
    return Rows(raw.count, columns, row_ids(raw.columns.get(schema.id_column or ""), raw.count))


def row_ids(given: list[Any] | None, count: int) -> list[str]:
    """The client's ids as text, the way cleaning reads an id column (a whole number
    without its decimal point); a row without one gets ``<request>-<row>``, unique."""
    if given is None:  # the common case, on the hot path: no per-row checks
        made = uuid.uuid4().hex[:16]
        return [f"{made}-{row}" for row in range(count)]
    made = None
    ids = []
    for row in range(count):
        value = given[row]
        text = None if _is_null(value) else category_text(value)
        if not isinstance(text, str) or not text:
            made = made or uuid.uuid4().hex[:16]
            text = f"{made}-{row}"
        ids.append(str(text))
    return ids
