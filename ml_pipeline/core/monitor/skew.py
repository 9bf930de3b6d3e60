"""Training-serving skew: the features the service computed for rows it served against
those the training pipeline computes from the same rows as the client sent them.

The service scores through its own input checks and, by default, a compiled copy of the
fitted preprocessing (``core/model/compiled``); training reads landed files through the
scikit-learn pipeline. Both should give the model the same numbers. Any column where
they differ on a row is reported, with how many rows and by how much.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.core.features import Float32

# Float noise between two correct computations of one feature stays far below these.
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-9


def feature_columns(matrix: Any, names: list[str] | None = None) -> dict[str, list[float]]:
    """A feature matrix (array, sparse or frame) as named columns of plain floats."""
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    if isinstance(matrix, pd.DataFrame):
        names, values = [str(c) for c in matrix.columns], matrix.to_numpy(dtype="float64")
    else:
        values = np.asarray(matrix, dtype="float64")
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if names is None or len(names) != values.shape[1]:
        names = [f"feature_{i}" for i in range(values.shape[1])]
    return {name: values[:, i].tolist() for i, name in enumerate(names)}


def training_features(pipeline: Any, raw: pd.DataFrame) -> dict[str, list[float]]:
    """What the fitted pipeline's steps before the estimator make of ``raw`` rows."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) < 2:
        raise ValueError("the model is not a pipeline with steps before its estimator")
    head = pipeline[:-1]
    if isinstance(head.steps[-1][1], Float32):  # deploy.onnx's cast belongs to the trees
        head = head[:-1]
    matrix = head.transform(raw)
    names = getattr(steps[-1][1], "feature_names_in_", None)
    return feature_columns(matrix, [str(n) for n in names] if names is not None else None)


@dataclass(frozen=True)
class ColumnSkew:
    column: str
    rows: int
    differing: int
    max_difference: float

    def as_row(self) -> dict[str, object]:
        return {
            "feature": self.column,
            "rows": self.rows,
            "differing_rows": self.differing,
            "max_abs_difference": round(self.max_difference, 6),
        }


@dataclass(frozen=True)
class SkewReport:
    rows: int
    columns: list[ColumnSkew]
    # Features one side has and the other lacks: skew in themselves.
    unmatched: list[str]
    # Why the training pipeline refused rows the service scored: the worst skew of all.
    refused: str | None = None

    @property
    def skewed(self) -> list[str]:
        refused = ["(every feature: training refuses the rows)"] if self.refused else []
        return refused + [c.column for c in self.columns if c.differing] + self.unmatched

    def sentence(self) -> str:
        if self.refused:
            return (
                f"the training pipeline refuses {self.rows} served row(s) the service "
                f"scored: {self.refused}"
            )
        if not self.skewed:
            return f"none: {len(self.columns)} feature(s) agree on {self.rows} served row(s)"
        return (
            f"{len(self.skewed)} feature(s) differ between serving and training on "
            f"{self.rows} served row(s): {', '.join(self.skewed)}"
        )


def compare_features(
    service: dict[str, list[float]], training: dict[str, list[float]]
) -> SkewReport:
    """Each feature the two sides share, row by row (missing equals missing)."""
    shared = [name for name in service if name in training]
    unmatched = sorted(set(service) ^ set(training))
    rows = len(next(iter(service.values()), []))
    columns = []
    for name in shared:
        a = np.asarray(service[name], dtype="float64")
        b = np.asarray(training[name], dtype="float64")
        if a.shape != b.shape:
            unmatched.append(name)
            continue
        both_missing = np.isnan(a) & np.isnan(b)
        close = np.isclose(a, b, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE) | both_missing
        gaps = np.abs(a - b)[~close]
        finite = gaps[np.isfinite(gaps)]
        largest = float(finite.max()) if finite.size else (np.inf if gaps.size else 0.0)
        columns.append(ColumnSkew(name, len(a), int((~close).sum()), largest))
    return SkewReport(rows, columns, unmatched)


def logged_samples(log: pd.DataFrame, max_rows: int) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """The latest logged samples that carry both the rows as sent and the features the
    service computed: the raw rows as a frame, and the service's features by column."""
    raws: list[pd.DataFrame] = []
    features: dict[str, list[float]] = {}
    taken = 0
    carrying = log[log["raw_inputs"].notna() & log["features"].notna()]
    for record in carrying.iloc[::-1].itertuples(index=False):
        raw = pd.DataFrame(json.loads(record.raw_inputs))
        served = json.loads(record.features)
        if set(served) != set(features) and features:
            continue  # another version's features: compared on the champion's only
        raws.append(raw)
        for name, values in served.items():
            features.setdefault(name, []).extend(values)
        taken += len(raw)
        if taken >= max_rows:
            break
    frame = pd.concat(raws[::-1], ignore_index=True) if raws else pd.DataFrame()
    ordered = {name: _reordered(values, raws) for name, values in features.items()}
    return frame, ordered


def _reordered(values: list[float], raws: list[pd.DataFrame]) -> list[float]:
    """Values gathered newest first, request by request, put back oldest first."""
    chunks, start = [], 0
    for raw in raws:
        chunks.append(values[start : start + len(raw)])
        start += len(raw)
    return [value for chunk in chunks[::-1] for value in chunk]


def served_skew(log: pd.DataFrame, version: str, load_pipeline, max_rows: int) -> SkewReport | str:
    """Skew on the latest samples ``version`` served as champion, or why it was not
    measured; ``load_pipeline`` is called only when there is something to compare."""
    mine = log[(log["role"] == "champion") & (log["model_version"] == version)]
    raw, served = logged_samples(mine, max_rows)
    if not served:
        return (
            f"not measured: no request v{version} served in the window kept its features "
            "(serving.compiled_scoring off, log_sample_fraction 0, or no requests)"
        )
    pipeline = load_pipeline()
    try:
        training = training_features(pipeline, raw)
    except (ValueError, TypeError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return SkewReport(len(raw), [], [], refused=first)
    return compare_features(served, training)
