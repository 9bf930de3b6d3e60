"""Batch scoring: every row of a file scored by one registered version, with its lineage.

Each output row keeps the file's columns and adds the prediction (and, for a
classifier, one probability column per class), the model version that made it, the
partition (file) it came from and its row number there. A row the model cannot read
(text that is not a number in a numeric column) gets no prediction and says why in
``score_error``; the file's other rows are scored. Re-scoring a partition with another
version replaces that partition's rows; nothing else changes.
"""

from __future__ import annotations

import functools
import tempfile
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.core.features import parse_numbers
from ml_pipeline.core.tracking import CHAMPION_ALIAS, MlflowStore, load_sklearn_model

PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability__"
MODEL_VERSION = "model_version"
INPUT_PARTITION = "input_partition"
INPUT_ROW = "input_row"
SCORE_ERROR = "score_error"
LINEAGE_COLUMNS = (MODEL_VERSION, INPUT_PARTITION, INPUT_ROW)


class BatchScoringError(ValueError):
    """A file or version that cannot be scored; the message names which and why."""


def resolve_version(store: MlflowStore, requested: str | None) -> str:
    """``requested`` if it is a registered version, else the champion's version."""
    from mlflow.exceptions import MlflowException

    if requested is None:
        champion = store.champion()
        if champion is None:
            raise BatchScoringError(
                f"no {CHAMPION_ALIAS} of {store.registered_model!r} yet: train and promote "
                "a model first, or name a registered version"
            )
        return str(champion.version)
    wanted = requested.strip().removeprefix("v")
    if not wanted.isdigit():
        raise BatchScoringError(f"model version {requested!r} is not a version number")
    try:
        store.version(wanted)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise BatchScoringError(
                f"model version {wanted} of {store.registered_model!r} is not registered"
            ) from None
        raise
    return wanted


@functools.lru_cache(maxsize=2)
def load_version(store: MlflowStore, version: str) -> Any:
    """The scikit-learn pipeline of a registered version (versions never change, so a
    worker that scores many files downloads each version once)."""
    import mlflow.artifacts

    # The registry is asked through the store's own client: a models:/name/version URI
    # would go to whichever registry this process set globally, if any.
    source = store.client().get_model_version_download_uri(store.registered_model, version)
    with tempfile.TemporaryDirectory(prefix="ml_pipeline-score-") as scratch:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=scratch, tracking_uri=store.tracking_uri
        )
        return load_sklearn_model(local)


def _first_step(pipeline: Any) -> Any:
    steps = getattr(pipeline, "steps", None)
    return steps[0][1] if steps else None


def required_columns(pipeline: Any) -> list[str]:
    """The landed columns the model reads (its first step says which)."""
    return list(getattr(_first_step(pipeline), "required_columns", []))


def unreadable_rows(frame: pd.DataFrame, pipeline: Any) -> pd.Series:
    """Per row, why the model would refuse it (the first numeric column holding text
    that is not a number), or None."""
    reasons = pd.Series(None, index=frame.index, dtype=object)
    for column in getattr(_first_step(pipeline), "numeric_columns_", []):
        _parsed, bad = parse_numbers(frame[column])
        new = bad & reasons.isna().to_numpy()
        if new.any():
            values = frame[column][new].map(repr)
            reasons.loc[values.index] = f"column {column!r}: " + values + " is not a number"
    return reasons


def _classes(pipeline: Any) -> list[Any] | None:
    classes = getattr(pipeline, "classes_", None)
    return list(classes) if classes is not None and hasattr(pipeline, "predict_proba") else None


def score_frame(
    frame: pd.DataFrame,
    pipeline: Any,
    *,
    version: str,
    partition_key: str,
    source: str,
    chunk_rows: int = 100_000,
) -> pd.DataFrame:
    """``frame`` with predictions and lineage columns, predicted ``chunk_rows`` at a time."""
    missing = [c for c in required_columns(pipeline) if c not in frame.columns]
    if missing:
        raise BatchScoringError(
            f"{source}: missing columns model version {version} reads: {', '.join(missing)}"
        )
    classes = _classes(pipeline)
    added = [
        PREDICTION,
        *(f"{PROBABILITY_PREFIX}{label}" for label in classes or []),
        SCORE_ERROR,
        *LINEAGE_COLUMNS,
    ]
    clashes = [c for c in added if c in frame.columns]
    if clashes:
        raise BatchScoringError(
            f"{source}: columns {', '.join(clashes)} would be overwritten by the scores; "
            "rename them in the file"
        )
    reasons = unreadable_rows(frame, pipeline)
    readable = reasons.isna().to_numpy()
    if not readable.any():
        raise BatchScoringError(f"{source}: no row can be scored; row 1: {reasons.iloc[0]}")
    rows = frame[readable]
    predictions, shares = [], []
    for start in range(0, len(rows), chunk_rows):
        chunk = rows.iloc[start : start + chunk_rows]
        predictions.append(np.asarray(pipeline.predict(chunk)))
        if classes is not None:
            shares.append(pipeline.predict_proba(chunk))
    scored = frame.copy()
    # Refused rows have no prediction: NaN among numbers, None among class labels.
    column = np.full(len(frame), np.nan if classes is None else None, dtype=object)
    column[readable] = np.concatenate(predictions)
    scored[PREDICTION] = column.astype("float64") if classes is None else column
    if classes is not None:
        stacked = np.full((len(frame), len(classes)), np.nan)
        stacked[readable] = np.vstack(shares)
        for index, label in enumerate(classes):
            scored[f"{PROBABILITY_PREFIX}{label}"] = stacked[:, index]
    scored[SCORE_ERROR] = reasons
    scored[MODEL_VERSION] = version
    scored[INPUT_PARTITION] = partition_key
    scored[INPUT_ROW] = np.arange(1, len(frame) + 1)
    return scored
