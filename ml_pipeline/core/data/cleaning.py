"""Cleaning of one batch: types, duplicates, missing targets, outliers and missing values.

Cleaning never guesses silently: :class:`CleaningReport` counts every change per
column so the asset metadata can say exactly what was done and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_pipeline.config import CleaningConfig, DatasetConfig
from ml_pipeline.core.data.contract import looks_numeric
from ml_pipeline.core.features import categories, parse_numbers

# Columns with this few distinct values are codes or flags, where spread-based
# outlier rules would flag every minority value.
MIN_DISTINCT_FOR_OUTLIER_RULES = 10
FLAGGED = "flagged, kept as landed"
OUTLIER_EXAMPLES = 5


class SchemaError(ValueError):
    """The batch cannot be cleaned against the configured dataset; names the column."""


@dataclass
class CleaningReport:
    rows_in: int = 0
    rows_out: int = 0
    column_kinds: dict[str, str] = field(default_factory=dict)
    duplicates_removed: int = 0
    missing_target_removed: int = 0
    mistyped: dict[str, int] = field(default_factory=dict)
    # Infinite numbers, numbers beyond float32's range and NaN spelled out: made missing.
    non_finite: dict[str, int] = field(default_factory=dict)
    outliers: dict[str, int] = field(default_factory=dict)
    # Per column with outliers: what was done ("flagged, kept", "set missing"...), and
    # a few of the values found, as they landed.
    outlier_treatment: dict[str, str] = field(default_factory=dict)
    outlier_examples: dict[str, list[float]] = field(default_factory=dict)
    outlier_rows_removed: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    missing_rows_removed: int = 0
    imputed: dict[str, int] = field(default_factory=dict)
    left_for_model: dict[str, int] = field(default_factory=dict)
    outlier_index: dict[str, list[int]] = field(default_factory=dict)

    def cell_notes(self) -> list[str]:
        """One line per column whose landed cells were changed: what a user should hear
        about without opening the event log."""
        notes = [f"{c}: {n} unparseable value(s) set missing" for c, n in self.mistyped.items()]
        notes += [
            f"{c}: {n} non-finite or out-of-range number(s) set missing"
            for c, n in self.non_finite.items()
        ]
        notes += [
            f"{c}: {n} outlier(s) {self.outlier_treatment[c]}"
            for c, n in self.outliers.items()
            if self.outlier_treatment.get(c) != FLAGGED
        ]
        return notes

    def summary(self) -> str:
        parts = [f"{self.rows_in} rows in, {self.rows_out} out"]
        if self.duplicates_removed:
            parts.append(f"{self.duplicates_removed} exact duplicates removed")
        if self.missing_target_removed:
            parts.append(f"{self.missing_target_removed} rows without target removed")
        if self.mistyped:
            parts.append(f"{sum(self.mistyped.values())} unparseable values set missing")
        if self.non_finite:
            parts.append(f"{sum(self.non_finite.values())} non-finite numbers set missing")
        flagged = sum(n for c, n in self.outliers.items() if self.outlier_treatment[c] == FLAGGED)
        if flagged:
            parts.append(f"{flagged} outliers flagged and kept as landed")
        if sum(self.outliers.values()) > flagged:
            parts.append(f"{sum(self.outliers.values()) - flagged} outliers treated")
        if self.imputed:
            parts.append(f"{sum(self.imputed.values())} missing values imputed")
        if self.left_for_model:
            parts.append(
                f"{sum(self.left_for_model.values())} missing values left for the model's "
                "imputer"
            )
        if self.missing_rows_removed:
            parts.append(f"{self.missing_rows_removed} rows with missing values removed")
        return "; ".join(parts)


def feature_columns(frame: pd.DataFrame, dataset: DatasetConfig) -> list[str]:
    """Columns the model may learn from: not the target, ids, dropped columns or timestamp."""
    excluded = {dataset.target, dataset.timestamp_column, *dataset.ignored_columns}
    return [column for column in frame.columns if column not in excluded]


def _kind(
    column: str,
    values: pd.Series,
    dataset: DatasetConfig,
    cleaning: CleaningConfig,
    kinds: dict[str, str] | None,
) -> str:
    """The contract's kind when there is one; else what the role or the values say."""
    if kinds and column in kinds:
        return kinds[column]
    if column == dataset.timestamp_column:
        return "datetime"
    if column == dataset.target:
        return "numeric" if dataset.task == "regression" else "categorical"
    if column in dataset.id_columns:
        return "categorical"
    if column in dataset.column_types:
        return dataset.column_types[column]
    return "numeric" if looks_numeric(values, cleaning.numeric_parse_threshold) else "categorical"


def _coerce_types(
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    cleaning: CleaningConfig,
    report: CleaningReport,
    kinds: dict[str, str] | None,
) -> pd.DataFrame:
    coerced = {}
    for column in frame.columns:
        values = frame[column]
        kind = _kind(column, values, dataset, cleaning, kinds)
        report.column_kinds[column] = kind
        if kind == "numeric":
            # The model's own reading of numbers: infinities and overflows become gaps.
            parsed, unparseable = parse_numbers(values)
            converted = pd.Series(parsed, index=values.index)
            lost = values.notna().to_numpy() & np.isnan(parsed)
            failed, non_finite = int(unparseable.sum()), int((lost & ~unparseable).sum())
            if non_finite:
                report.non_finite[column] = non_finite
        else:
            if kind == "datetime":
                converted = pd.to_datetime(values, errors="coerce", format="mixed")
            else:
                # The model's own rule, so a client's codes match the categories trained on.
                converted = pd.Series(categories(values), index=values.index, dtype=object)
            lost = values.notna() & converted.isna()
            # Blank text is a gap (as an empty cell is), not a value that failed to read;
            # only the few lost values are looked at, not the whole column.
            blank = values[lost].map(lambda v: isinstance(v, str) and not v.strip())
            failed = int(lost.sum()) - int(blank.astype(bool).sum())
        if failed:
            report.mistyped[column] = failed
        coerced[column] = converted
    return pd.DataFrame(coerced, index=frame.index)


def _outlier_mask(
    values: pd.Series, column: str, cleaning: CleaningConfig
) -> tuple[pd.Series, float | None, float | None]:
    """Which values are outliers, and the fences a clip treatment would use."""
    rules = cleaning.outliers
    low, high = None, None
    if column in rules.bounds:
        low, high = rules.bounds[column]
    elif rules.method in ("iqr", "zscore") and values.nunique() > MIN_DISTINCT_FOR_OUTLIER_RULES:
        if rules.method == "iqr":
            q1, q3 = values.quantile([0.25, 0.75])
            spread = q3 - q1
            if spread > 0:
                low, high = q1 - rules.iqr_k * spread, q3 + rules.iqr_k * spread
        else:
            # Median and MAD resist the very outliers being looked for, unlike mean and std.
            fences = _robust_fences(values, rules.zscore_threshold)
            if fences is not None:
                low, high = fences
    if low is None:
        return pd.Series(False, index=values.index), None, None
    return (values < low) | (values > high), low, high


def _robust_fences(values: pd.Series, threshold: float) -> tuple[float, float] | None:
    median = values.median()
    mad = (values - median).abs().median() * 1.4826
    if not mad > 0:
        return None
    return median - threshold * mad, median + threshold * mad


def _isolation_forest_masks(
    frame: pd.DataFrame, columns: list[str], cleaning: CleaningConfig
) -> dict[str, tuple[pd.Series, float | None, float | None]]:
    """Rows IsolationForest isolates, blamed on the values that stand out in them.

    The forest judges whole rows; treatment needs cells, so within a flagged row the
    values beyond robust fences (or the single most extreme one) are the outliers.
    """
    from sklearn.ensemble import IsolationForest

    rules = cleaning.outliers
    usable = [c for c in columns if frame[c].nunique() > MIN_DISTINCT_FOR_OUTLIER_RULES]
    if not usable or len(frame) < 20:
        return {}
    data = frame[usable].fillna(frame[usable].median())
    forest = IsolationForest(contamination=rules.contamination, random_state=0)
    rows = pd.Series(forest.fit_predict(data.to_numpy()) == -1, index=frame.index)
    fences = {c: _robust_fences(frame[c], rules.zscore_threshold) for c in usable}
    scale = {c: max((frame[c] - frame[c].median()).abs().median(), 1e-9) for c in usable}
    beyond = pd.DataFrame(
        {c: (frame[c] < f[0]) | (frame[c] > f[1]) if f else False for c, f in fences.items()}
    )
    extreme = ((frame[usable] - frame[usable].median()).abs() / pd.Series(scale)).idxmax(axis=1)
    masks = {}
    for column in usable:
        blamed = rows & (beyond[column] | (~beyond.any(axis=1) & (extreme == column)))
        low, high = fences[column] or (None, None)
        masks[column] = (blamed, low, high)
    return masks


def _treat_outliers(
    frame: pd.DataFrame, columns: list[str], cleaning: CleaningConfig, report: CleaningReport
) -> pd.DataFrame:
    if cleaning.outliers.method == "none" and not cleaning.outliers.bounds:
        return frame
    frame = frame.copy()
    numeric = [c for c in columns if report.column_kinds.get(c) == "numeric"]
    forest_masks = {}
    if cleaning.outliers.method == "isolation_forest":
        unbounded = [c for c in numeric if c not in cleaning.outliers.bounds]
        forest_masks = _isolation_forest_masks(frame, unbounded, cleaning)
    rows_to_drop = pd.Series(False, index=frame.index)
    for column in numeric:
        if column in forest_masks:
            mask, low, high = forest_masks[column]
        else:
            mask, low, high = _outlier_mask(frame[column], column, cleaning)
        flagged = int(mask.sum())
        if not flagged:
            continue
        report.outliers[column] = flagged
        report.outlier_index[column] = [int(i) for i in frame.index[mask]]
        report.outlier_examples[column] = [
            float(v) for v in frame.loc[mask, column].head(OUTLIER_EXAMPLES)
        ]
        treatment = cleaning.outliers.treatment
        if treatment == "flag" and column in cleaning.outliers.bounds:
            treatment = "null"  # outside declared bounds: certainly wrong, not just rare
        if treatment == "flag":
            report.outlier_treatment[column] = FLAGGED
        elif treatment == "clip" and low is not None:
            frame[column] = frame[column].clip(lower=low, upper=high)
            report.outlier_treatment[column] = f"clipped to [{low:.4g}, {high:.4g}]"
        elif treatment in ("null", "clip"):  # no fences to clip to: treat as missing
            frame.loc[mask, column] = np.nan
            report.outlier_treatment[column] = "set missing"
        else:
            rows_to_drop |= mask
            report.outlier_treatment[column] = "rows removed"
    if rows_to_drop.any():
        report.outlier_rows_removed = int(rows_to_drop.sum())
        frame = frame[~rows_to_drop]
    return frame


def _treat_missing(
    frame: pd.DataFrame, columns: list[str], cleaning: CleaningConfig, report: CleaningReport
) -> pd.DataFrame:
    missing = frame[columns].isna()
    report.missing = {c: int(n) for c, n in missing.sum().items() if n}
    if not report.missing:
        return frame
    if cleaning.missing == "drop":
        rows = missing.any(axis=1)
        report.missing_rows_removed = int(rows.sum())
        return frame[~rows]
    if cleaning.missing in ("model", "indicator"):
        report.left_for_model = dict(report.missing)
        return frame
    frame = frame.copy()
    for column in report.missing:
        present = frame[column].dropna()
        if present.empty:
            continue  # nothing to learn a fill value from; the model's imputer handles it
        if report.column_kinds.get(column) == "numeric":
            fill = present.median()
        else:
            fill = present.mode().iloc[0]
        frame[column] = frame[column].fillna(fill)
        report.imputed[column] = report.missing[column]
    return frame


def _whole_labels(labels: pd.Series) -> pd.Series:
    """Numeric class labels that are all whole numbers as integers, so 0 stays 0, not 0.0."""
    if pd.api.types.is_float_dtype(labels) and (labels == labels.round()).all():
        return labels.astype("int64")
    return labels


def clean_batch(
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    cleaning: CleaningConfig,
    kinds: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Return the cleaned batch and a report of every change made to it.

    ``kinds`` are the schema contract's column kinds; without them each column's kind
    is inferred from this batch alone.
    """
    if dataset.target not in frame.columns:
        raise SchemaError(f"target column {dataset.target!r} is missing")
    report = CleaningReport(rows_in=len(frame))

    duplicated = frame.duplicated(keep="first")
    report.duplicates_removed = int(duplicated.sum())
    frame = frame[~duplicated]

    frame = _coerce_types(frame, dataset, cleaning, report, kinds)
    no_target = frame[dataset.target].isna()
    report.missing_target_removed = int(no_target.sum())
    frame = frame[~no_target]
    if dataset.task == "classification":
        frame = frame.assign(**{dataset.target: _whole_labels(frame[dataset.target])})

    columns = feature_columns(frame, dataset)
    frame = _treat_outliers(frame, columns, cleaning, report)
    frame = _treat_missing(frame, columns, cleaning, report)
    report.rows_out = len(frame)
    return frame.reset_index(drop=True), report
