"""Which rows are withheld from training.

With a timestamp the holdout is the latest rows, so validation looks like the
future the model will meet. Without one it is a stable hash of the row's
identity, so a row stays on its side of the split as new batches arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.core.data.warehouse import Warehouse

HASH_BUCKETS = 10_000


@dataclass(frozen=True)
class HoldoutSpec:
    kind: str  # "time" or "hash"
    fraction: float
    column: str | None = None
    cutoff: str | None = None
    hash_columns: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "time":
            return f"rows with {self.column} after {self.cutoff} (latest {self.fraction:.0%})"
        return f"stable hash of {', '.join(self.hash_columns)} ({self.fraction:.0%} of rows)"


def plan_holdout(
    warehouse: Warehouse,
    table: str,
    partition_keys: list[str],
    fraction: float,
    timestamp_column: str | None,
    hash_columns: list[str],
    not_before: str | None = None,
) -> HoldoutSpec:
    """The holdout for this training run.

    ``not_before`` is the champion's own cutoff: a time holdout never reaches back into
    rows the champion trained on, even when older data lands late, so the champion and
    the challenger are both judged on rows neither has seen.
    """
    if timestamp_column is None:
        return HoldoutSpec(kind="hash", fraction=fraction, hash_columns=tuple(hash_columns))
    stamps = [
        frame[timestamp_column].dropna().to_numpy(dtype="datetime64[ns]")
        for _, frame in warehouse.iter_frames(table, partition_keys, [timestamp_column])
    ]
    values = np.concatenate(stamps) if stamps else np.array([], dtype="datetime64[ns]")
    return time_holdout(values, fraction, timestamp_column, not_before)


def time_holdout(
    stamps: np.ndarray, fraction: float, column: str, not_before: str | None = None
) -> HoldoutSpec:
    """The latest ``fraction`` of ``stamps`` (non-null datetime64[ns]) as a time holdout."""
    if stamps.size == 0:
        raise ValueError(f"no timestamps in column {column!r} to split on")
    cutoff = pd.Timestamp(int(np.quantile(stamps.astype("int64"), 1 - fraction, method="lower")))
    if not_before is not None:
        cutoff = max(cutoff, pd.Timestamp(not_before))
    return HoldoutSpec(kind="time", fraction=fraction, column=column, cutoff=cutoff.isoformat())


def count_holdout_rows(
    warehouse: Warehouse, table: str, partition_keys: list[str], spec: HoldoutSpec
) -> int:
    """How many rows ``spec`` withholds, reading only the columns it looks at."""
    columns = [spec.column] if spec.kind == "time" else list(spec.hash_columns)
    return sum(
        int(holdout_mask(frame, spec).sum())
        for _, frame in warehouse.iter_frames(table, partition_keys, columns)
    )


def holdout_mask(frame: pd.DataFrame, spec: HoldoutSpec) -> pd.Series:
    if spec.kind == "time":
        return pd.to_datetime(frame[spec.column]) > pd.Timestamp(spec.cutoff)
    hashed = pd.util.hash_pandas_object(frame[list(spec.hash_columns)].astype(str), index=False)
    return pd.Series(
        (hashed.to_numpy() % HASH_BUCKETS) < spec.fraction * HASH_BUCKETS, index=frame.index
    )
