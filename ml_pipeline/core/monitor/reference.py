"""The training reference: what the champion learned from, and drift against it.

The profile is built from the training sample when a model is trained and
becomes the reference when that model is promoted. Landed files are checked
against its schema, learned-range expectations come from its quantiles, and
the drift of each new partition is measured against its distributions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml_pipeline.core.fileio import atomic_write_text

OTHER = "__other__"
# A bin with no reference or no new rows would make PSI infinite; floor the shares.
SHARE_FLOOR = 1e-4
# Conventional PSI reading: below 0.1 stable, 0.1-0.25 moderate, above 0.25 major shift.
MAJOR_SHIFT = 0.25


@dataclass
class ColumnProfile:
    kind: str
    required: bool
    low: float | None = None
    high: float | None = None
    edges: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    categories: dict[str, float] = field(default_factory=dict)


@dataclass
class ReferenceProfile:
    target: str
    rows: int
    columns: dict[str, ColumnProfile]
    features: list[str]
    created: str

    def required_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.required]

    def monitored(self) -> list[str]:
        """Columns the model learns from, whose distributions drift is measured on."""
        return [n for n, c in self.columns.items() if c.required and c.kind != "datetime"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        raw = json.loads(text)
        raw["columns"] = {k: ColumnProfile(**v) for k, v in raw["columns"].items()}
        return cls(**raw)

    def save(self, path: Path) -> Path:
        return atomic_write_text(self.to_json(), path)


def load_reference(path: Path) -> ReferenceProfile | None:
    return ReferenceProfile.from_json(path.read_text(encoding="utf-8")) if path.is_file() else None


def _numeric_profile(values: pd.Series, required: bool) -> ColumnProfile:
    present = values.dropna().to_numpy(dtype="float64")
    if present.size == 0:
        return ColumnProfile(kind="numeric", required=required)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, 11))[1:-1]).tolist()
    return ColumnProfile(
        kind="numeric",
        required=required,
        low=float(np.quantile(present, 0.001)),
        high=float(np.quantile(present, 0.999)),
        edges=edges,
        shares=_numeric_shares(present, edges),
    )


def _numeric_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    bins = np.searchsorted(np.asarray(edges), values, side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return (counts / max(1, counts.sum())).tolist()


def _category_shares(values: pd.Series, keep: list[str] | None = None) -> dict[str, float]:
    present = values.dropna().astype(str)
    shares = present.value_counts(normalize=True)
    if keep is None:
        keep = shares.index[:50].tolist()  # the long tail is summarised as OTHER
    result = {category: float(shares.get(category, 0.0)) for category in keep}
    result[OTHER] = float(max(0.0, 1.0 - sum(result.values())))
    return result


def build_reference(
    frame: pd.DataFrame, target: str, ignored: list[str], timestamp: str | None, features: list[str]
) -> ReferenceProfile:
    """Profile every raw input column of ``frame`` (the training sample)."""
    columns = {}
    for name in frame.columns:
        if name == target:
            continue
        required = name not in ignored
        values = frame[name]
        if name == timestamp:
            columns[name] = ColumnProfile(kind="datetime", required=required)
        elif pd.api.types.is_numeric_dtype(values):
            columns[name] = _numeric_profile(values, required)
        else:
            columns[name] = ColumnProfile(
                kind="categorical", required=required, categories=_category_shares(values)
            )
    return ReferenceProfile(
        target=target,
        rows=len(frame),
        columns=columns,
        features=features,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype="float64"), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype="float64"), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


# A column holding one value all through a batch (a daily flag, a per-file region) is
# judged by whether that value is usual, not by PSI: one bin against a spread is always
# a "major shift". This many rows make a value constant rather than a lone reading.
CONSTANT_MIN_ROWS = 20
# A constant value the reference saw less often than this is reported as unusual.
RARE_SHARE = 0.01


@dataclass
class DriftReport:
    per_column: dict[str, float]
    overall: float
    # Columns constant in this batch, not scored by PSI: column -> what was judged.
    constant: dict[str, str] = field(default_factory=dict)
    unusual_constants: list[str] = field(default_factory=list)

    def shifted(self) -> list[str]:
        scored = [c for c, value in self.per_column.items() if value > MAJOR_SHIFT]
        return sorted({*scored, *self.unusual_constants})


def _constant_verdict(values: pd.Series, column: ColumnProfile) -> tuple[str, bool] | None:
    """For a column that holds one value throughout: a sentence, and whether it is unusual."""
    present = values.dropna()
    if len(present) < CONSTANT_MIN_ROWS or present.nunique() != 1:
        return None
    value = present.iloc[0]
    if column.kind == "numeric":
        number = float(value)
        usual = column.low is None or column.low <= number <= column.high
        span = (
            f"reference range {column.low:.4g} to {column.high:.4g}"
            if column.low is not None
            else "no reference range"
        )
        return f"constant {number:.4g} in this batch ({span})", not usual
    share = column.categories.get(str(value), 0.0)
    return (
        f"constant {str(value)!r} in this batch ({share:.1%} of reference rows)",
        share < RARE_SHARE,
    )


def drift(frame: pd.DataFrame, reference: ReferenceProfile) -> DriftReport:
    """PSI of each monitored column of ``frame`` against the reference; overall is the mean.

    Category shares are paired by name. A column constant within the batch is judged
    by whether its one value is usual in the reference instead (see ``constant``).
    """
    per_column: dict[str, float] = {}
    constant: dict[str, str] = {}
    unusual: list[str] = []
    for name in reference.monitored():
        if name not in frame.columns:
            continue
        column = reference.columns[name]
        values = frame[name]
        if column.kind == "numeric":
            values = pd.to_numeric(values, errors="coerce")
        verdict = _constant_verdict(values, column) if column.kind != "datetime" else None
        if verdict is not None:
            constant[name] = verdict[0]
            if verdict[1]:
                unusual.append(name)
            continue
        if column.kind == "numeric" and column.shares:
            present = values.dropna().to_numpy("float64")
            if present.size:
                per_column[name] = psi(column.shares, _numeric_shares(present, column.edges))
        elif column.kind == "categorical" and column.categories:
            known = [c for c in column.categories if c != OTHER]
            actual = _category_shares(values, keep=known)
            expected = [column.categories.get(category, 0.0) for category in actual]
            per_column[name] = psi(expected, list(actual.values()))
    overall = float(np.mean(list(per_column.values()))) if per_column else 0.0
    return DriftReport(per_column, overall, constant, sorted(unusual))
