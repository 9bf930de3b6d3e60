"""The prediction log's files: one record per scoring request, written and read.

Every scored request keeps its rows' ids and predictions, so labels that arrive later
join to what was said; a shadow version's answers are records of their own (role
``shadow``). A sample of requests also keeps its rows, as checked and as sent.

The scoring service's writer thread (``ml_pipeline.serving.log_writer``) turns
what has queued up into one Parquet file every few seconds, written atomically, under
``<folder>/date=YYYY-MM-DD/``. A reader therefore never sees half a file, and the
monitoring asset reads just the days its window covers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml_pipeline.core.fileio import atomic_path
from ml_pipeline.core.storage import StoragePath, readable

COLUMNS = (
    "time",
    "endpoint",
    "model_version",
    "status",
    "rows",
    "latency_ms",
    "error",
    "inputs",
    "outputs",
    "role",
    "row_ids",
    "predictions",
    "probabilities",
    "raw_inputs",
    "features",
)
CHAMPION_ROLE = "champion"
SHADOW_ROLE = "shadow"
_JSON_FIELDS = (
    "inputs",
    "outputs",
    "row_ids",
    "predictions",
    "probabilities",
    "raw_inputs",
    "features",
)


@dataclass
class LoggedRequest:
    time: dt.datetime
    endpoint: str
    model_version: str | None
    status: int
    rows: int
    latency_ms: float
    error: str | None = None
    # A sample of the scored rows and their predictions; serialised by the writer thread.
    inputs: dict[str, list[Any]] | None = None
    outputs: list[Any] | None = None
    role: str = CHAMPION_ROLE
    # Every scored row: its id, prediction and, for a classifier, probability per label.
    row_ids: list[str] | None = None
    predictions: list[Any] | None = None
    probabilities: list[dict[str, float]] | None = None
    # The sampled rows as the client sent them, before any check: the skew check's input.
    raw_inputs: dict[str, list[Any]] | None = None
    # The features the service computed for those rows (compiled scoring), by column.
    features: dict[str, list[float]] | None = None

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "time": self.time,
            "endpoint": self.endpoint,
            "model_version": self.model_version,
            "status": self.status,
            "rows": self.rows,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "role": self.role,
        }
        for name in _JSON_FIELDS:
            # Columns to lists of values: compact, and read straight into a DataFrame.
            value = getattr(self, name)
            row[name] = json.dumps(value) if value is not None else None
        return row


def write_records(records: list[LoggedRequest], folder: StoragePath) -> StoragePath | None:
    """Write ``records`` as one new Parquet file under their first record's day."""
    return write_rows([record.as_row() for record in records], folder)


def write_rows(rows: list[dict[str, Any]], folder: StoragePath) -> StoragePath | None:
    """Write records already turned into rows (``LoggedRequest.as_row``) as one file."""
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    first = rows[0]["time"].astimezone(dt.UTC)
    name = f"{first:%H%M%S%f}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
    target = folder / f"date={first:%Y-%m-%d}" / name
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)
    return target


def _read(path: StoragePath) -> pd.DataFrame:
    with readable(path) as source:
        return pd.read_parquet(source)


def _days(start: dt.datetime, end: dt.datetime) -> list[str]:
    day, last = start.date(), end.date()
    found = []
    while day <= last:
        found.append(f"date={day:%Y-%m-%d}")
        day += dt.timedelta(days=1)
    return found


def read_prediction_log(folder: StoragePath, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Every record with ``start <= time < end`` (UTC), oldest first."""
    files = [
        path
        for day in _days(start, end)
        for path in sorted((folder / day).glob("*.parquet"))
        if not path.name.startswith(".")
    ]
    if not files:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMNS})
    # Files from before a column existed hold none of it: null there.
    frame = pd.concat([_read(path) for path in files], ignore_index=True).reindex(
        columns=list(COLUMNS)
    )
    frame["role"] = frame["role"].fillna(CHAMPION_ROLE)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    window = (frame["time"] >= pd.Timestamp(start)) & (frame["time"] < pd.Timestamp(end))
    return frame[window].sort_values("time", kind="stable").reset_index(drop=True)
