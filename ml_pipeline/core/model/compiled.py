"""A fitted scoring pipeline's preprocessing step compiled to NumPy, for serving.

Scoring one request through scikit-learn's ColumnTransformer is a large part of a
1-row prediction, and almost none of it is arithmetic: per-block pandas indexing and
input validation. The transformers the training builds (imputers, a scaler, ordinal or
one-hot encoders) reduce to value lookups and array arithmetic over their fitted state.

A compiled step is trusted only after it has reproduced the fitted step, value for
value, on probe rows built from that fitted state: every known category, a missing
value and an unseen one per categorical column; the fill value, a missing value and
extremes per numeric column. A pipeline with any part this module cannot express, or
that fails the probe, is served as it is. The same probe decides whether a
HistGradientBoosting model may skip re-encoding the category codes it is given.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Stands for a category the encoder never saw: no fitted category equals it.
UNSEEN = "\x00ml_pipeline unseen category\x00"

Step = Callable[[np.ndarray], np.ndarray]


class NotCompilable(ValueError):
    """The fitted step holds something the compiled path does not reproduce."""


def _missing(values: np.ndarray) -> np.ndarray:
    # The imputer's own test for NaN: on object arrays only NaN differs from itself.
    if values.dtype == object:
        return values != values
    return np.isnan(values)


def _imputer(step: Any) -> Step:
    missing_value = step.missing_values
    if not (isinstance(missing_value, float) and np.isnan(missing_value)):
        raise NotCompilable(f"imputer for missing value {missing_value!r}")
    statistics = step.statistics_
    if _missing(np.asarray(statistics)).any():
        # Columns empty at fit time are dropped or kept by rules not worth copying.
        raise NotCompilable("imputer with a column that was empty when fitted")
    indicated = step.indicator_.features_ if step.add_indicator else None

    def impute(values: np.ndarray) -> np.ndarray:
        mask = _missing(values)
        filled = np.where(mask, statistics.astype(values.dtype, copy=False), values)
        if indicated is None:
            return filled
        return np.hstack((filled, mask[:, indicated]))

    return impute


def _scaler(step: Any) -> Step:
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None

    def standardize(values: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype="float64")
        if mean is not None:
            out -= mean
        if scale is not None:
            out /= scale
        return out

    return standardize


def _encoder(step: Any) -> Step:
    """One lookup table per column: row i is what category i encodes to, the last row
    what an unseen category encodes to, all read from the fitted encoder itself."""
    from sklearn.preprocessing import OneHotEncoder

    categories = step.categories_
    for known in categories:
        if known.dtype != object or _missing(known).any():
            raise NotCompilable("encoder with non-text or missing categories")
    if isinstance(step, OneHotEncoder):
        widths = getattr(step, "_n_features_outs", None)
        if widths is None or step.sparse_output:
            raise NotCompilable("sparse or unfamiliar one-hot encoder")
    else:
        widths = [1] * len(categories)
    longest = max(len(known) for known in categories)
    probe = np.empty((longest + 1, len(categories)), dtype=object)
    for column, known in enumerate(categories):
        probe[:longest, column] = [known[min(i, len(known) - 1)] for i in range(longest)]
    probe[longest, :] = UNSEEN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unseen category is the point of the probe
        try:
            encoded = np.asarray(step.transform(probe))
        except ValueError as error:
            raise NotCompilable(f"encoder refuses unseen categories: {error}") from None
    tables, start = [], 0
    for known, width in zip(categories, widths, strict=True):
        block = encoded[:, start : start + width]
        rows = np.vstack([block[: len(known)], block[longest:]])
        tables.append(({value: i for i, value in enumerate(known)}, rows))
        start += width
    if start != encoded.shape[1]:
        raise NotCompilable("encoder output does not add up to its columns")

    def encode(values: np.ndarray) -> np.ndarray:
        parts = []
        for column, (index, rows) in enumerate(tables):
            unseen = len(rows) - 1
            found = np.fromiter(
                (index.get(value, unseen) for value in values[:, column]),
                dtype=np.intp,
                count=len(values),
            )
            parts.append(rows[found])
        return np.hstack(parts)

    return encode


def _clipper(step: Any) -> Step:
    low, high = step.low_, step.high_

    def clip(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype="float64")
        return values if low is None else np.clip(values, low, high)

    return clip


def _step(step: Any) -> Step:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from ml_pipeline.core.features import OutlierClipper

    kind = type(step)
    if kind is OutlierClipper:
        return _clipper(step)
    if kind is SimpleImputer:
        return _imputer(step)
    if kind is StandardScaler:
        return _scaler(step)
    if kind in (OrdinalEncoder, OneHotEncoder):
        return _encoder(step)
    raise NotCompilable(f"{kind.__name__} is not compiled")


def _chain(transformer: Any) -> Step:
    compiled = [_step(s) for s in _fitted_steps(transformer) if s not in ("passthrough", None)]

    def run(values: np.ndarray) -> np.ndarray:
        for step in compiled:
            values = step(values)
        return values

    return run


@dataclass(frozen=True)
class CompiledPreprocess:
    """A ColumnTransformer's blocks as (input columns, compiled chain) pairs."""

    blocks: list[tuple[list[str], Step]]

    def transform(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        # Column by column: selecting a sub-frame costs more than a small batch's arithmetic.
        return np.hstack(
            [
                chain(np.column_stack([np.asarray(frame[column]) for column in columns]))
                for columns, chain in self.blocks
            ]
        )


def compile_column_transformer(transformer: Any) -> CompiledPreprocess:
    """Raise NotCompilable for anything but dense blocks of the supported steps."""
    if getattr(transformer, "sparse_output_", False):
        raise NotCompilable("sparse output")
    blocks = []
    for _name, block, columns in transformer.transformers_:
        if isinstance(block, str) and block == "drop":
            continue
        if isinstance(block, str) or not isinstance(columns, list) or not columns:
            raise NotCompilable("passthrough or a selection other than column names")
        if not all(isinstance(column, str) for column in columns):
            raise NotCompilable("a selection other than column names")
        blocks.append((columns, _chain(block)))
    return CompiledPreprocess(blocks)


def _fitted_steps(transformer: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    return [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]


def probe_rows(transformer: Any) -> pd.DataFrame:
    """Rows that walk every fitted category, a missing and an unseen value, the fill
    values and extremes, through each block of a fitted ColumnTransformer."""
    columns: dict[str, list[Any]] = {}
    for _name, block, names in transformer.transformers_:
        if isinstance(block, str):
            continue
        steps = _fitted_steps(block)
        encoders = [s for s in steps if hasattr(s, "categories_")]
        imputers = [s for s in steps if hasattr(s, "statistics_")]
        for position, name in enumerate(names):
            if encoders:
                known = list(encoders[0].categories_[position])
                columns[name] = [*known, np.nan, UNSEEN]
            else:
                fill = [float(imputers[0].statistics_[position])] if imputers else []
                columns[name] = [*fill, np.nan, 0.0, -1e9, 1e9, 0.5]
    length = max(len(values) for values in columns.values())
    return pd.DataFrame(
        {
            name: pd.Series(
                [values[i % len(values)] for i in range(length)],
                dtype=object if isinstance(values[-1], str) else "float64",
            )
            for name, values in columns.items()
        }
    )


@dataclass(frozen=True)
class CompiledScorer:
    """Raw rows in, the final estimator's inputs out, without the ColumnTransformer."""

    head: list[Any]
    preprocess: CompiledPreprocess
    model: Any
    feature_names: list[str] | None

    def features(self, frame: pd.DataFrame) -> np.ndarray | pd.DataFrame:
        index = frame.index
        for step in self.head[:-1]:
            frame = step.transform(frame)
        columns: pd.DataFrame | dict[str, np.ndarray] = frame
        if self.head:
            last = self.head[-1]
            # The feature step's columns go straight to the compiled blocks, unframed.
            arrays = getattr(last, "feature_arrays", None)
            columns = arrays(frame) if arrays is not None else last.transform(frame)
        out = self.preprocess.transform(columns)
        if self.feature_names is None:
            return out
        return pd.DataFrame(out, columns=self.feature_names, index=index)


def compile_pipeline(pipeline: Any) -> CompiledScorer:
    """The pipeline's scorer with its ColumnTransformer compiled and checked against it
    on probe rows; raises NotCompilable saying why it stays as it is."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from ml_pipeline.core.features import Float32

    steps = [step for _, step in getattr(pipeline, "steps", [])]
    if len(steps) >= 3 and isinstance(steps[-2], Float32):
        # deploy.onnx's trees read float32: the cast stays with the estimator.
        steps = [*steps[:-2], Pipeline([("float32", steps[-2]), ("model", steps[-1])])]
    if len(steps) < 2 or not isinstance(steps[-2], ColumnTransformer):
        raise NotCompilable("no ColumnTransformer just before the estimator")
    transformer, model = steps[-2], steps[-1]
    compiled = compile_column_transformer(transformer)
    probe = probe_rows(transformer)
    expected = pd.DataFrame(np.asarray(transformer.transform(probe)))
    features = compiled.transform(probe)
    if not expected.equals(pd.DataFrame(features)):
        raise NotCompilable("the compiled step differs from the fitted one on probe rows")
    names = getattr(model, "feature_names_in_", None)
    names = list(names) if names is not None else None
    probe_inputs = pd.DataFrame(features, columns=names) if names is not None else features
    return CompiledScorer(steps[:-2], compiled, _without_recoding(model, probe_inputs), names)


def _without_recoding(model: Any, probe_inputs: np.ndarray | pd.DataFrame) -> Any:
    """The estimator, or a copy of a HistGradientBoosting model that skips re-encoding
    category codes that come in already encoded.

    Given categorical features, HistGradientBoosting runs its own ColumnTransformer and
    OrdinalEncoder on every predict call, mapping the codes it saw in training to their
    positions. For the codes the training's OrdinalEncoder emits (0 to k-1, every one
    seen in the fit, categorical columns first) that mapping is the identity, and it
    costs a one-row prediction about as much as the trees. The copy is used only if the
    mapping leaves the probe's inputs unchanged, and if the copy predicts the probe rows
    exactly as the model does; otherwise the model is served as it is.
    """
    recoder = getattr(model, "_preprocessor", None)
    if recoder is None or not hasattr(recoder, "transform"):
        return model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recoded = np.asarray(recoder.transform(probe_inputs), dtype="float64")
        given = np.asarray(probe_inputs, dtype="float64")
        if recoded.shape != given.shape or not np.array_equal(recoded, given, equal_nan=True):
            return model
        lean = copy.copy(model)
        lean._preprocessor = None
        try:
            same = np.array_equal(lean.predict(probe_inputs), model.predict(probe_inputs))
        except (ValueError, TypeError, AttributeError):
            return model
    return lean if same else model
