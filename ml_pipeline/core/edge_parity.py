"""Whether ``model.onnx`` scores like the scikit-learn pipeline it came from.

Both models read the same CSV text: the pipeline what ``pandas.read_csv`` makes of it
(as the service and batch scoring get a client's file), the ONNX model what the edge
feature step makes of it (as a device does). The rows are the holdout and
:func:`hard_rows`: gaps, blank text, unseen categories, extreme numbers, timestamps
written every ISO 8601 way, and values on either side of every tree's thresholds.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.core import onnx_export
from ml_pipeline.core.edge_features import model_inputs

Columns = dict[str, list[str]]

UNSEEN_CATEGORY = "never-seen-category-\u00e9"
# Beyond float32's range both sides read a gap; the others are numbers a model must split.
EXTREME_NUMBERS = ("0", "-0.0", "1e-300", "3.0e38", "-3.0e38", "1e39", "inf", "-Infinity", " ")
TIMESTAMP_SHAPES = (
    "{date}",
    "{date}T{time}",
    "{date} {time}",
    "{date}T{time}Z",
    "{date}T{time}+05:30",
    "{date}T{time}.250-08:00",
)
# Base rows each hard variation is applied to, and thresholds probed per model.
BASE_ROWS = 5
THRESHOLDS = 300


def as_csv_columns(frame: pd.DataFrame) -> Columns:
    """``frame`` as the text columns a CSV file of it holds."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    reader = csv.reader(buffer)
    header = next(reader)
    rows = list(reader)
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


def read_as_client(columns: Columns) -> pd.DataFrame:
    """What ``pandas.read_csv`` gives for a CSV file of ``columns``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values(), strict=True))
    buffer.seek(0)
    return pd.read_csv(buffer)


def concat(*parts: Columns) -> Columns:
    names = list(parts[0])
    return {name: [value for part in parts for value in part[name]] for name in names}


def _vary(base: Columns, column: str, values: list[str]) -> Columns:
    """Every base row once with each of ``values`` in ``column``."""
    rows = len(base[column])
    out = {name: cells * len(values) for name, cells in base.items()}
    out[column] = [value for value in values for _ in range(rows)]
    return out


def _tree_thresholds(pipeline: Any) -> dict[str, np.ndarray]:
    """Each raw numeric column's split thresholds, for a tree model."""
    builder, preprocess, estimator = onnx_export.pipeline_parts(pipeline)
    names = list(preprocess.get_feature_names_out())
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for tree in getattr(estimator, "estimators_", []):
        if hasattr(tree, "tree_"):
            split = tree.tree_.feature >= 0
            pairs.append((tree.tree_.feature[split], tree.tree_.threshold[split]))
    for tree in onnx_export.gradient_boosting_trees(estimator) or []:
        split = ~tree.nodes["is_leaf"].astype(bool)
        pairs.append((tree.nodes["feature_idx"][split], tree.nodes["num_threshold"][split]))
    out: dict[str, list[float]] = {}
    for features, thresholds in pairs:
        for feature, threshold in zip(features, thresholds, strict=True):
            name = names[int(feature)]
            if name in builder.numeric_columns_ and np.isfinite(threshold):
                out.setdefault(name, []).append(float(threshold))
    return {name: np.unique(values) for name, values in out.items()}


def _either_side(thresholds: np.ndarray, rng: np.random.Generator) -> list[str]:
    """The float32 values just at and just above sampled thresholds, as exact text."""
    if thresholds.size > THRESHOLDS:
        thresholds = rng.choice(thresholds, THRESHOLDS, replace=False)
    below = onnx_export.float32_below(thresholds)
    above = np.nextafter(below, np.float32(np.inf))
    return [repr(float(v)) for v in np.concatenate([below, above])]


def hard_rows(pipeline: Any, columns: Columns, seed: int = 0) -> Columns:
    """Rows built to be hard, from ``BASE_ROWS`` rows of ``columns``: each model input in
    turn blank, an unseen category or extreme number, each ISO 8601 timestamp shape, and
    the values either side of the trees' thresholds."""
    builder = pipeline[0]
    rows = len(next(iter(columns.values())))
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(rows, min(rows, BASE_ROWS), replace=False).tolist())
    base = {name: [cells[i] for i in picked] for name, cells in columns.items()}
    parts = []
    for column in builder.categorical_columns_:
        parts.append(_vary(base, column, ["", " ", UNSEEN_CATEGORY, " " + UNSEEN_CATEGORY]))
    for column in builder.numeric_columns_:
        parts.append(_vary(base, column, ["", *EXTREME_NUMBERS]))
    for column, thresholds in _tree_thresholds(pipeline).items():
        parts.append(_vary(base, column, _either_side(thresholds, rng)))
    if builder.timestamp_column:
        written = (shape.format(date="2024-02-29", time="23:59:59") for shape in TIMESTAMP_SHAPES)
        stamps = ["", *written]
        parts.append(_vary(base, builder.timestamp_column, stamps))
    return concat(*parts) if parts else base


@dataclass(frozen=True)
class Parity:
    rows: int
    differing: int
    max_difference: float
    tolerance: float
    first_differing: int | None = None

    @property
    def passed(self) -> bool:
        return self.differing == 0

    def describe(self) -> str:
        if self.passed:
            return (
                f"ONNX parity: {self.rows} rows agree (max difference "
                f"{self.max_difference:.3g}, tolerance {self.tolerance:g})"
            )
        return (
            f"ONNX parity failed: {self.differing} of {self.rows} rows differ, "
            f"max {self.max_difference:.3g} (first at row {self.first_differing})"
        )


def _classification_gaps(
    pipeline: Any, X: pd.DataFrame, outputs: list[np.ndarray], tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's largest probability gap, and whether it differs. A label differs
    only where the pipeline's two likeliest classes are more than ``tolerance`` apart:
    a tie may fall either way in float32."""
    expected = pipeline.predict_proba(X)
    gap = np.abs(outputs[1].astype(float) - expected).max(axis=1)
    labels = np.asarray(pipeline.predict(X)).astype(str)
    top_two = np.sort(expected, axis=1)[:, -2:] if expected.shape[1] > 1 else expected
    decided = (top_two[:, -1] - top_two[:, 0]) > tolerance
    return gap, ((outputs[0].astype(str) != labels) & decided) | ~(gap <= tolerance)


def parity(
    pipeline: Any, model_bytes: bytes, columns: Columns, task: str, tolerance: float
) -> Parity:
    """Score the CSV text ``columns`` with both models. A regression row differs when
    the predictions are further apart than ``tolerance`` times max(1, |prediction|)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, model_inputs(columns, onnx_export.edge_spec(pipeline, task)))
    X = read_as_client(columns)
    if task == "regression":
        expected = np.asarray(pipeline.predict(X), dtype=float)
        gap = np.abs(outputs[0].reshape(-1).astype(float) - expected)
        bad = ~(gap <= tolerance * np.maximum(1.0, np.abs(expected)))
    else:
        gap, bad = _classification_gaps(pipeline, X, outputs, tolerance)
    finite = gap[np.isfinite(gap)]
    worst = float(finite.max()) if finite.size else float("nan")
    if not np.isfinite(gap).all():
        worst = float("inf")
    first = int(np.flatnonzero(bad)[0]) if bad.any() else None
    return Parity(len(X), int(bad.sum()), worst, tolerance, first)


def exactness(
    pipeline: Any, task: str, rows: pd.DataFrame, tolerance: float, id_column: str | None = None
) -> tuple[bytes | None, str]:
    """``pipeline`` as ONNX and its parity on ``rows`` and the hard rows built from them;
    or None and why it cannot be shipped."""
    try:
        model = onnx_export.export_onnx(pipeline, task, id_column)
    except onnx_export.EdgeExportError as error:
        return None, f"no ONNX conversion: {error}"
    columns = as_csv_columns(rows)
    checked = concat(columns, hard_rows(pipeline, columns))
    result = parity(pipeline, model, checked, task, tolerance)
    return (model if result.passed else None), result.describe()
