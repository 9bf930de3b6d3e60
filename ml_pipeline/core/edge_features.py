"""The feature step for the edge, in NumPy and the standard library.

It mirrors ``ml_pipeline.core.features.FeatureBuilder`` applied to a CSV file as
``pandas.read_csv`` would give it: numbers parsed, the timestamp expanded into calendar
parts and their cycles, categories as stripped text (codes read as numbers become
whole-number text, as in training). Timestamps must be ISO 8601 (the spec says so, and
a row holding another format is refused with the format expected); the Python feature
step reads more, so a device's file should write them that way. The spec it needs
travels inside ``model.onnx`` as metadata, so the device needs that file alone.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass

import numpy as np

SPEC_KEY = "ml_pipeline.edge_spec"
# Stands for a missing category in the string tensor: ONNX strings cannot be NaN.
MISSING = "\x00missing"
# features.FLOAT32_MAX: beyond it a number is missing.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The texts pandas.read_csv reads as missing by default.
NA_TEXTS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
CALENDAR_PARTS = ("hour", "dayofweek", "month", "dayofyear")
ISO_8601 = "ISO 8601 (YYYY-MM-DD, optionally [T ]HH:MM[:SS[.ffffff]] and Z or +HH:MM)"
CYCLES = {"hour": 24, "dayofweek": 7, "month": 12}


@dataclass(frozen=True)
class EdgeSpec:
    task: str
    timestamp_column: str | None
    numeric_columns: list[str]
    categorical_columns: list[str]
    classes: list[str] | None = None
    # The column passed through as each output row's id when a file holds it.
    id_column: str | None = None
    timestamp_format: str = ISO_8601

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EdgeSpec:
        return cls(**json.loads(text))

    @property
    def required_columns(self) -> list[str]:
        timestamp = [self.timestamp_column] if self.timestamp_column else []
        return [*timestamp, *self.numeric_columns, *self.categorical_columns]


def _blank(value: str | None) -> bool:
    return value is None or value in NA_TEXTS or not value.strip()


def parse_number(value: str | None, column: str, row: int) -> float:
    """A cell as a number, or NaN: blank, ``NaN``, non-finite numbers (``inf``,
    ``1e400``) and numbers beyond float32's range are missing, as
    ``features.finite_or_missing`` makes them."""
    if _blank(value):
        return math.nan
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"column {column!r}: {value!r} is not a number (row {row})") from None
    return number if abs(number) <= FLOAT32_MAX else math.nan


def _number(value: str | None, column: str, row: int, errors: list[str | None] | None) -> float:
    if errors is None:
        return parse_number(value, column, row)
    try:
        return parse_number(value, column, row)
    except ValueError as error:
        errors[row] = errors[row] or str(error)
        return math.nan


def _whole_number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def category_texts(values: list[str | None]) -> np.ndarray:
    """Stripped text; a column read as numbers (every value is one, as read_csv would
    infer) becomes whole-number text where it can."""
    present = [v.strip() for v in values if not _blank(v)]
    try:
        numeric = [float(v) for v in present]
    except ValueError:
        numeric = None
    out = np.empty(len(values), dtype=object)
    numbers = iter(numeric) if numeric is not None else None
    for row, value in enumerate(values):
        if _blank(value):
            out[row] = MISSING
        elif numbers is not None:
            number = next(numbers)
            out[row] = _whole_number_text(number) if math.isfinite(number) else MISSING
        else:
            out[row] = value.strip()
    return out


def parse_timestamp(value: str | None, column: str, row: int) -> dt.datetime | None:
    """An ISO 8601 cell as a datetime (its wall-clock time), None when blank."""
    if _blank(value):
        return None
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"column {column!r}: {value!r} is not an {ISO_8601} timestamp (row {row})"
        ) from None


def calendar(
    values: list[str | None], column: str = "timestamp", errors: list[str | None] | None = None
) -> np.ndarray:
    """Calendar parts, is-weekend and the cycles, one row per value (NaN where the
    timestamp is missing). A value in another format is refused, or with ``errors``
    named there and read as missing."""
    width = len(CALENDAR_PARTS) + 1 + 2 * len(CYCLES)
    out = np.full((len(values), width), np.nan)
    for row, value in enumerate(values):
        try:
            stamp = parse_timestamp(value, column, row)
        except ValueError as error:
            if errors is None:
                raise
            errors[row] = errors[row] or str(error)
            continue
        if stamp is None:
            continue
        parts = {
            "hour": stamp.hour,
            "dayofweek": stamp.weekday(),
            "month": stamp.month,
            "dayofyear": stamp.timetuple().tm_yday,
        }
        cycles = []
        for part, period in CYCLES.items():
            angle = 2 * np.pi * parts[part] / period
            cycles += [np.sin(angle), np.cos(angle)]
        weekend = 1.0 if parts["dayofweek"] >= 5 else 0.0
        out[row] = [*(parts[p] for p in CALENDAR_PARTS), weekend, *cycles]
    return out


def model_inputs(
    columns: dict[str, list[str | None]],
    spec: EdgeSpec,
    errors: list[str | None] | None = None,
) -> dict[str, np.ndarray]:
    """The ONNX model's inputs from text columns: ``numeric`` (float64) and
    ``categorical`` (strings), in the order the model was trained on.

    With ``errors`` (one entry per row), a cell that is not a number, or a timestamp
    not in ISO 8601, does not refuse
    the whole input: its row's first such problem is written there, and the cell is
    missing meanwhile; the caller leaves those rows unscored."""
    missing = [c for c in spec.required_columns if c not in columns]
    if missing:
        raise ValueError(f"input is missing required columns: {', '.join(missing)}")
    rows = len(next(iter(columns.values()))) if columns else 0
    blocks = [
        np.array(
            [_number(v, name, row, errors) for row, v in enumerate(columns[name])], dtype=float
        ).reshape(rows, 1)
        for name in spec.numeric_columns
    ]
    if spec.timestamp_column:
        blocks.append(calendar(columns[spec.timestamp_column], spec.timestamp_column, errors))
    numeric = np.hstack(blocks) if blocks else np.empty((rows, 0))
    categorical = np.empty((rows, len(spec.categorical_columns)), dtype=object)
    for index, name in enumerate(spec.categorical_columns):
        categorical[:, index] = category_texts(columns[name])
    return {"numeric": numeric.astype(np.float64), "categorical": categorical}
