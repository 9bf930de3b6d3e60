"""Feature engineering shared by the ``features`` asset and the deployed model.

:class:`FeatureBuilder` is the first step of every trained pipeline, so scoring
takes the same raw columns as a landed file and derives features with the very
code that built the training table. It is stateless apart from the input
contract it records in ``fit``. This module imports only pandas, numpy and
scikit-learn: it is shipped inside the exported model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

CALENDAR_PARTS = ("hour", "dayofweek", "month", "dayofyear")
CYCLES = {"hour": 24, "dayofweek": 7, "month": 12}
# Text that spells a missing number rather than a wrong one.
NAN_TEXTS = frozenset({"nan", "-nan", "+nan"})
# The largest magnitude a number keeps; beyond it (and infinity) it is missing.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def numbers(values: pd.Series, column: str) -> np.ndarray:
    """A numeric column as float64: integers, floats, None, NaN and blank text are fine.

    Text that is not a number is refused naming the column and the row, rather than
    silently scored as missing.
    """
    parsed, bad = parse_numbers(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"column {column!r}: {values.iloc[row]!r} is not a number (row {row})")
    return parsed


def finite_or_missing(values: np.ndarray) -> np.ndarray:
    """Float64 ``values`` with every number no estimator can fit on made missing:
    ``inf``, ``-inf``, text such as ``Infinity`` or ``1e400`` once parsed, and finite
    numbers beyond float32's range (about 3.4e38).

    Forests and ONNX compute in float32, where such a number is infinite, and scaling
    squares it past float64's range; a real file's value that large is a sentinel or a
    typo, never a measurement.

    The one rule for numbers in this project: cleaning, training, the service and batch
    scoring read every number through it (the edge scorer, which cannot import pandas,
    mirrors it and is tested against it), so a value no estimator can fit on is a gap
    the model's imputer fills, never a failure of the whole fit.
    """
    if values.size:
        with np.errstate(invalid="ignore"):
            beyond = np.abs(values) > FLOAT32_MAX
        if beyond.any():
            values = np.where(beyond, np.nan, values)
    return values


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as finite float64 or NaN, and where they hold text that is not a number.

    Infinities and numbers beyond float32's range are missing, not refused: a reader
    produces them from real files, so they are gaps, not typos.
    """
    if pd.api.types.is_numeric_dtype(values):
        parsed = values.to_numpy(dtype="float64", na_value=np.nan)
        return finite_or_missing(parsed), np.zeros(len(values), bool)
    raw = values.astype(object)
    blank = raw.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    present = raw.where(~blank, None)
    try:
        parsed = pd.to_numeric(present, errors="coerce")
    except OverflowError:  # a Python integer beyond float64, which "coerce" does not catch
        parsed = pd.to_numeric(present.map(_overflow_to_infinity), errors="coerce")
    parsed = parsed.to_numpy(dtype="float64", na_value=np.nan)
    bad = np.isnan(parsed) & raw.notna().to_numpy() & ~blank
    if bad.any():  # the text "NaN" is a missing number, not a wrong one
        bad[bad] = ~raw[bad].map(lambda v: str(v).strip().casefold() in NAN_TEXTS).to_numpy(bool)
    return finite_or_missing(parsed), bad


def _overflow_to_infinity(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return np.inf if value > 0 else -np.inf
    return value


def category_text(value: object) -> object:
    if isinstance(value, str):
        # Blank text is a gap, as read_csv makes an empty cell and the edge scorer reads it.
        return value.strip() or np.nan
    if isinstance(value, float):
        if not np.isfinite(value):
            return np.nan
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def categories(values: pd.Series) -> np.ndarray:
    """A categorical column as text, the way cleaning stored it: stripped strings, whole
    numbers without a decimal point (a client's ``read_csv`` turns codes into numbers,
    and into floats once a value is missing); missing stays missing."""
    missing = values.isna().to_numpy()
    text = values.astype(object).to_numpy(dtype=object, copy=True)
    text[missing] = np.nan
    present = ~missing
    text[present] = [category_text(v) for v in text[present]]
    return text


def as_kinds(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """``frame`` with its numeric and categorical columns read as ``kinds`` say.

    Partitions cleaned before a column's kind was decided, or before a user changed it,
    hold its values as the other kind; read by the kind in force, every partition
    feeds the model the same column. Text that is not a number becomes missing.
    """
    converted = {}
    for column, kind in kinds.items():
        if column not in frame.columns:
            continue
        values = frame[column]
        if kind == "numeric" and not pd.api.types.is_numeric_dtype(values):
            converted[column] = parse_numbers(values)[0]
        elif kind == "categorical" and not pd.api.types.is_string_dtype(values):
            converted[column] = pd.Series(categories(values), index=frame.index, dtype=object)
    return frame.assign(**converted) if converted else frame


def _wall_clock(value: object) -> pd.Timestamp:
    stamp = pd.to_datetime(value, errors="coerce")
    if isinstance(stamp, pd.Timestamp) and stamp.tzinfo is not None:
        return stamp.tz_localize(None)
    return stamp


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Coerce raw columns to the types seen in training and add calendar features.

    Parameters
    ----------
    timestamp_column:
        Expanded into calendar parts and their cycles, then dropped.
    ignored_columns:
        Identifiers and leakage columns: accepted in the input, never used.
    """

    def __init__(
        self, timestamp_column: str | None = None, ignored_columns: list[str] | None = None
    ):
        self.timestamp_column = timestamp_column
        self.ignored_columns = ignored_columns

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureBuilder:
        ignored = set(self.ignored_columns or [])
        used = [c for c in X.columns if c not in ignored]
        self.numeric_columns_ = [
            c for c in used if c != self.timestamp_column and pd.api.types.is_numeric_dtype(X[c])
        ]
        self.categorical_columns_ = [
            c for c in used if c != self.timestamp_column and c not in self.numeric_columns_
        ]
        if self.timestamp_column is not None and self.timestamp_column not in X.columns:
            raise ValueError(f"timestamp column {self.timestamp_column!r} is missing")
        self.n_features_in_ = len(X.columns)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    @property
    def required_columns(self) -> list[str]:
        timestamp = [self.timestamp_column] if self.timestamp_column else []
        return [*timestamp, *self.numeric_columns_, *self.categorical_columns_]

    def calendar_columns(self) -> list[str]:
        if not self.timestamp_column:
            return []
        prefix = self.timestamp_column
        parts = [f"{prefix}_{part}" for part in CALENDAR_PARTS]
        cycles = [f"{prefix}_{part}_{fn}" for part in CYCLES for fn in ("sin", "cos")]
        return [*parts, f"{prefix}_is_weekend", *cycles]

    def numeric_output_columns(self) -> list[str]:
        return [*self.numeric_columns_, *self.calendar_columns()]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(
            [*self.numeric_output_columns(), *self.categorical_columns_], dtype=object
        )

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.feature_arrays(X), index=X.index, copy=False)

    def feature_arrays(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """The features as one array per column, in output order: what ``transform``
        puts in a frame, for callers that index columns and need no frame."""
        missing = [c for c in self.required_columns if c not in X.columns]
        if missing:
            raise ValueError(f"input is missing required columns: {', '.join(missing)}")
        # Built in output order: reordering a frame afterwards costs more than the
        # arithmetic itself on the small batches a scoring service sees.
        out: dict[str, object] = {}
        for column in self.numeric_columns_:
            out[column] = numbers(X[column], column)
        if self.timestamp_column:
            out.update(self._calendar(X[self.timestamp_column]))
        for column in self.categorical_columns_:
            out[column] = categories(X[column])
        return out

    def _calendar(self, raw: pd.Series) -> dict[str, np.ndarray]:
        parts = calendar_parts(_naive_datetimes(parse_timestamps(raw)))
        prefix = self.timestamp_column
        out = {f"{prefix}_{part}": parts[part] for part in CALENDAR_PARTS}
        out[f"{prefix}_is_weekend"] = np.where(
            np.isnan(parts["dayofweek"]), np.nan, (parts["dayofweek"] >= 5).astype("float64")
        )
        for part, period in CYCLES.items():
            angle = 2 * np.pi * parts[part] / period
            out[f"{prefix}_{part}_sin"] = np.sin(angle)
            out[f"{prefix}_{part}_cos"] = np.cos(angle)
        return out


def parse_timestamps(raw: pd.Series) -> pd.Series:
    """``raw`` as datetimes; what no reading makes a date and time is missing."""
    if not pd.api.types.is_datetime64_any_dtype(raw) and not pd.api.types.is_numeric_dtype(raw):
        try:
            # ISO 8601 throughout, the usual case, parses several times faster than
            # "mixed", which infers a format for each value.
            return pd.to_datetime(raw, format="ISO8601")
        except ValueError:
            pass
    try:
        return pd.to_datetime(raw, errors="coerce", format="mixed")
    except ValueError:
        # Offsets that differ from row to row (pandas refuses to mix them): each row
        # keeps the wall-clock time it was written in, as uniform offsets do.
        return pd.to_datetime(raw.map(_wall_clock), errors="coerce")


def _naive_datetimes(stamps: pd.Series) -> np.ndarray:
    """Wall-clock times as ``datetime64`` in the column's own unit (a zone-aware column
    keeps its local time; a unit coarser than nanoseconds may lie beyond year 2262)."""
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    moments = stamps.to_numpy()
    return moments if moments.dtype.kind == "M" else moments.astype("datetime64[ns]")


def calendar_parts(moments: np.ndarray) -> dict[str, np.ndarray]:
    """Hour, day of week (Monday 0), month and day of year of ``datetime64`` values, as
    float64 with NaN where the time is missing.

    NumPy's calendar arithmetic, not the ``.dt`` accessors: each accessor pays pandas'
    per-call overhead, which dominated the features of a one-row scoring request.
    """
    missing = np.isnat(moments)
    days = moments.astype("datetime64[D]")
    hour = (moments - days).astype("timedelta64[h]").astype("int64")
    # 1970-01-01, day 0 of the epoch, was a Thursday (3 when Monday is 0).
    dayofweek = (days.astype("int64") + 3) % 7
    months = days.astype("datetime64[M]")
    month = months.astype("int64") % 12 + 1
    dayofyear = (days - days.astype("datetime64[Y]")).astype("int64") + 1
    parts = {"hour": hour, "dayofweek": dayofweek, "month": month, "dayofyear": dayofyear}
    return {
        name: np.where(missing, np.nan, values.astype("float64")) for name, values in parts.items()
    }


class OutlierClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Numbers held within the range most training rows span.

    Each column is clipped to its ``quantile`` and ``1 - quantile`` quantiles among the
    rows it was fitted on, and to the same bounds when the model scores; a gap stays a
    gap for the imputer after it. With ``quantile=None`` it passes numbers through: the
    search tries both (``clip_outliers``), so the cross-validation decides whether a
    linear model is better off with its extremes tamed.
    """

    def __init__(self, quantile: float | None = None) -> None:
        self.quantile = quantile

    def fit(self, X: object, y: object = None) -> OutlierClipper:
        values = np.asarray(X, dtype="float64")
        self.n_features_in_ = values.shape[1]
        if self.quantile is None:
            self.low_ = self.high_ = None
            return self
        empty = np.isnan(values).all(axis=0)
        filled = np.where(empty, 0.0, values)  # an all-gap column has no range to keep
        low = np.nanquantile(filled, self.quantile, axis=0)
        high = np.nanquantile(filled, 1 - self.quantile, axis=0)
        self.low_ = np.where(empty, -np.inf, low)
        self.high_ = np.where(empty, np.inf, high)
        return self

    def transform(self, X: object) -> np.ndarray:
        values = np.asarray(X, dtype="float64")
        if self.low_ is None:
            return values
        return np.clip(values, self.low_, self.high_)


class Float32(TransformerMixin, BaseEstimator):
    """The design matrix as float32, the numbers an ONNX model reads. A tree fitted and
    scored through this step compares the same values its ONNX form compares, so the two
    split every row alike (``deploy.onnx`` puts it before every tree)."""

    def fit(self, X: object, y: object = None) -> Float32:
        # A fitted attribute, so that slices of a pipeline ending here count as fitted.
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X: object) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)
