"""A trained pipeline as one ONNX model for the edge, and the parity that gates it.

The feature step stays outside the graph: ``ml_pipeline.core.edge_features`` reimplements
it in NumPy, and its spec travels in the model's metadata. The graph takes what that
step yields, ``numeric`` (float32) and ``categorical`` (strings), and holds the rest:

- the numeric block (median imputation, missing-value indicators, scaling) as plain
  ONNX operators built from the fitted parameters;
- the categorical block (most-frequent imputation, then ordinal codes or one-hot
  columns with rare values pooled) as a lookup table per column, filled by running
  the fitted block itself on every known category, on a missing value and on an
  unseen one. skl2onnx refuses or mistranslates these steps; the table is exact by
  construction;
- the estimator, converted by skl2onnx.

Converters can be silently wrong (HistGradientBoosting with native categories is), so
nothing is published on conversion alone: :func:`parity` compares the two models on
real rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ml_pipeline.core.edge_features import MISSING, SPEC_KEY, EdgeSpec, model_inputs

OPSET = 17
ML_OPSET = 3
UNSEEN = "\x00unseen"
FULL_STEPS = ["features", "preprocess", "model"]
EDGE_STEPS = ["features", "preprocess", "float32", "model"]


class EdgeExportError(RuntimeError):
    """The pipeline has a part this exporter cannot express; the message names it."""


def _steps(pipeline: Any) -> tuple[Any, Any, Any]:
    """The feature step, the preprocessing and the estimator (a ``float32`` step between
    the last two, as :func:`edge_variant` adds, is what the ONNX input does anyway)."""
    names = [name for name, _ in pipeline.steps]
    if names not in (FULL_STEPS, EDGE_STEPS):
        raise EdgeExportError(f"expected the steps {', '.join(FULL_STEPS)}; got {names}")
    return pipeline[0], pipeline[1], pipeline[-1]


def _const(helper, numpy_helper, name: str, values: np.ndarray):
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(values, name=f"{name}_value")
    )


def _numeric_nodes(block: Any, helper, numpy_helper) -> tuple[list, str]:
    """Median imputation (dropping columns that were empty in training), indicators,
    then scaling: the numeric block as operators on the ``numeric`` input."""
    steps = dict(block.steps)
    unknown = set(steps) - {"clip", "impute", "scale"}
    if unknown:
        raise EdgeExportError(f"numeric step(s) {sorted(unknown)} have no edge form")
    imputer = steps["impute"]
    statistics = np.asarray(imputer.statistics_, dtype=np.float32)
    kept = np.flatnonzero(~np.isnan(statistics)).astype(np.int64)
    nodes = [
        _const(helper, numpy_helper, "num_fill", np.nan_to_num(statistics)),
        _const(helper, numpy_helper, "num_kept", kept),
        helper.make_node("IsNaN", ["numeric"], ["num_isnan"]),
        helper.make_node("Where", ["num_isnan", "num_fill", "numeric"], ["num_filled"]),
        helper.make_node("Gather", ["num_filled", "num_kept"], ["num_imputed"], axis=1),
    ]
    current = "num_imputed"
    clipper = steps.get("clip")
    if clipper is not None and clipper.low_ is not None:
        # After the imputation, not before as in the pipeline: a fill value is a median
        # of clipped numbers, so it lies within the bounds and the order changes nothing.
        low = np.asarray(clipper.low_, dtype=np.float32)[kept]
        high = np.asarray(clipper.high_, dtype=np.float32)[kept]
        nodes += [
            _const(helper, numpy_helper, "num_low", low),
            _const(helper, numpy_helper, "num_high", high),
            helper.make_node("Max", [current, "num_low"], ["num_above_low"]),
            helper.make_node("Min", ["num_above_low", "num_high"], ["num_clipped"]),
        ]
        current = "num_clipped"
    if imputer.indicator_ is not None:
        flagged = np.asarray(imputer.indicator_.features_, dtype=np.int64)
        nodes += [
            _const(helper, numpy_helper, "num_flagged", flagged),
            helper.make_node("Gather", ["num_isnan", "num_flagged"], ["num_flags"], axis=1),
            helper.make_node("Cast", ["num_flags"], ["num_indicators"], to=1),
            helper.make_node("Concat", [current, "num_indicators"], ["num_with_flags"], axis=1),
        ]
        current = "num_with_flags"
    scaler = steps.get("scale")
    if scaler is not None:
        mean = scaler.mean_ if scaler.with_mean else np.zeros(scaler.n_features_in_)
        scale = scaler.scale_ if scaler.with_std else np.ones(scaler.n_features_in_)
        nodes += [
            _const(helper, numpy_helper, "num_mean", np.asarray(mean, dtype=np.float32)),
            _const(helper, numpy_helper, "num_scale", np.asarray(scale, dtype=np.float32)),
            helper.make_node("Sub", [current, "num_mean"], ["num_centred"]),
            helper.make_node("Div", ["num_centred", "num_scale"], ["num_scaled"]),
        ]
        current = "num_scaled"
    return nodes, current


def _block_widths(encoder: Any, columns: int) -> list[int]:
    widths = getattr(encoder, "_n_features_outs", None)
    return list(widths) if widths is not None else [1] * columns


def _categorical_nodes(block: Any, columns: list[str], helper, numpy_helper) -> tuple[list, str]:
    """One lookup per column: its known categories, missing and unseen, each mapped to
    the row the fitted block gives it."""
    encoder = block[-1]
    widths = _block_widths(encoder, len(columns))
    fill = {name: encoder.categories_[i][0] for i, name in enumerate(columns)}
    nodes, outputs, start = [], [], 0
    for index, name in enumerate(columns):
        known = [str(c) for c in encoder.categories_[index] if isinstance(c, str)]
        probe = pd.DataFrame({c: [fill[c]] * (len(known) + 2) for c in columns}, dtype=object)
        probe[name] = [*known, np.nan, UNSEEN]
        table = np.asarray(block.transform(probe), dtype=np.float32)
        table = table[:, start : start + widths[index]]
        start += widths[index]
        keys = [*known, MISSING]
        prefix = f"cat{index}"
        nodes += [
            # A scalar index: the column comes out as a vector of N strings.
            _const(helper, numpy_helper, f"{prefix}_at", np.asarray(index, dtype=np.int64)),
            helper.make_node("Gather", ["categorical", f"{prefix}_at"], [f"{prefix}_text"], axis=1),
            helper.make_node(
                "LabelEncoder",
                [f"{prefix}_text"],
                [f"{prefix}_row"],
                domain="ai.onnx.ml",
                keys_strings=keys,
                values_int64s=list(range(len(keys))),
                default_int64=len(keys),
            ),
            _const(helper, numpy_helper, f"{prefix}_table", table),
            helper.make_node("Gather", [f"{prefix}_table", f"{prefix}_row"], [f"{prefix}_out"]),
        ]
        outputs.append(f"{prefix}_out")
    nodes.append(helper.make_node("Concat", outputs, ["cat_encoded"], axis=1))
    return nodes, "cat_encoded"


def _preprocess_model(builder: Any, preprocess: Any, helper, numpy_helper, onnx):
    """The ColumnTransformer as a graph from (numeric, categorical) to ``design``."""
    nodes, parts = [], []
    numeric_columns = builder.numeric_output_columns()
    for name, block, columns in preprocess.transformers_:
        if block == "drop" or len(columns) == 0:
            continue
        if name == "numeric" and list(columns) == numeric_columns:
            built, output = _numeric_nodes(block, helper, numpy_helper)
        elif name == "categorical" and list(columns) == list(builder.categorical_columns_):
            built, output = _categorical_nodes(block, list(columns), helper, numpy_helper)
        else:
            raise EdgeExportError(f"preprocessing block {name!r} has no edge form")
        nodes += built
        parts.append(output)
    nodes.append(helper.make_node("Concat", parts, ["design"], axis=1))
    tensor = onnx.TensorProto
    graph = helper.make_graph(
        nodes,
        "preprocess",
        [
            helper.make_tensor_value_info("numeric", tensor.FLOAT, [None, len(numeric_columns)]),
            helper.make_tensor_value_info(
                "categorical", tensor.STRING, [None, len(builder.categorical_columns_)]
            ),
        ],
        [helper.make_tensor_value_info("design", tensor.FLOAT, [None, None])],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
    )


def _route_missing_values(model, estimator: Any) -> None:
    """Send NaN where scikit-learn's trees send it: skl2onnx's forest converter sends it
    to the false branch at every split, whatever the tree learned."""
    trees = getattr(estimator, "estimators_", None)
    if trees is None or not hasattr(trees[0], "tree_"):
        return
    from onnx import helper

    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attributes = {a.name: a for a in node.attribute}
        tree_ids = attributes["nodes_treeids"].ints
        node_ids = attributes["nodes_nodeids"].ints
        modes = attributes["nodes_modes"].strings
        tracks = [
            0 if mode == b"LEAF" else int(trees[t].tree_.missing_go_to_left[n])
            for t, n, mode in zip(tree_ids, node_ids, modes, strict=True)
        ]
        node.attribute.remove(attributes["nodes_missing_value_tracks_true"])
        node.attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", tracks))


def _estimator_model(estimator: Any, width: int, task: str):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(estimator): {"zipmap": False}} if task == "classification" else None
    try:
        model = convert_sklearn(
            estimator,
            initial_types=[("design", FloatTensorType([None, width]))],
            options=options,
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    except Exception as error:
        raise EdgeExportError(
            f"{type(estimator).__name__}: no ONNX conversion: {type(error).__name__}: {error}"
        ) from None
    _route_missing_values(model, estimator)
    return model


def edge_spec(pipeline: Any, task: str) -> EdgeSpec:
    builder, _preprocess, estimator = _steps(pipeline)
    classes = getattr(estimator, "classes_", None)
    return EdgeSpec(
        task=task,
        timestamp_column=builder.timestamp_column,
        numeric_columns=list(builder.numeric_columns_),
        categorical_columns=list(builder.categorical_columns_),
        classes=[str(c) for c in classes] if classes is not None else None,
    )


def export_onnx(pipeline: Any, task: str) -> bytes:
    """The pipeline after its feature step as one serialized ONNX model."""
    import onnx
    from onnx import compose, helper, numpy_helper

    builder, preprocess, estimator = _steps(pipeline)
    width = int(getattr(estimator, "n_features_in_", 0))
    pre = _preprocess_model(builder, preprocess, helper, numpy_helper, onnx)
    model = _estimator_model(estimator, width, task)
    pre.ir_version = model.ir_version
    # skl2onnx may declare a domain twice or at an older version: both sides get one set.
    for part in (pre, model):
        del part.opset_import[:]
        part.opset_import.extend(
            [helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
        )
    merged = compose.merge_models(pre, model, io_map=[("design", "design")], prefix2="model_")
    outputs = [o.name for o in merged.graph.output]
    renamed = ["prediction"] if task == "regression" else ["label", "probabilities"]
    for old, new in zip(outputs, renamed, strict=True):
        for node in merged.graph.node:
            node.output[:] = [new if name == old else name for name in node.output]
        for output in merged.graph.output:
            if output.name == old:
                output.name = new
    spec = edge_spec(pipeline, task)
    helper.set_model_props(merged, {SPEC_KEY: spec.to_json()})
    onnx.checker.check_model(merged)
    return merged.SerializeToString()


def as_csv_columns(frame: pd.DataFrame) -> dict[str, list[str | None]]:
    """``frame`` as the text columns an edge device reads from its CSV file."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    reader = csv.reader(buffer)
    header = next(reader)
    rows = list(reader)
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


@dataclass(frozen=True)
class Parity:
    rows: int
    differing: int
    max_difference: float
    tolerance: float

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
            f"max {self.max_difference:.3g}"
        )


def parity(
    pipeline: Any, model_bytes: bytes, frame: pd.DataFrame, task: str, tolerance: float
) -> Parity:
    """Score ``frame`` with both models. A regression row differs when the predictions
    are further apart than ``tolerance``; a classification row when the labels differ
    or any class probability is further apart than ``tolerance``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    inputs = model_inputs(as_csv_columns(frame), edge_spec(pipeline, task))
    outputs = session.run(None, inputs)
    if task == "regression":
        expected = np.asarray(pipeline.predict(frame), dtype=float)
        gap = np.abs(outputs[0].reshape(-1).astype(float) - expected)
        bad = ~(gap <= tolerance)
    else:
        labels = np.asarray(pipeline.predict(frame)).astype(str)
        gap = np.abs(outputs[1].astype(float) - pipeline.predict_proba(frame)).max(axis=1)
        bad = (outputs[0].astype(str) != labels) | ~(gap <= tolerance)
    finite = gap[np.isfinite(gap)]
    worst = float(finite.max()) if finite.size else float("nan")
    if not np.isfinite(gap).all():
        worst = float("inf")
    return Parity(len(frame), int(bad.sum()), worst, tolerance)


class Float32(TransformerMixin, BaseEstimator):
    """The design matrix as float32: an edge model reads float32, so an estimator fit
    and scored through this step decides exactly as its ONNX conversion does. Only the
    edge variant uses it, and only its ONNX form is saved."""

    def fit(self, X: object, y: object = None) -> Float32:
        return self

    def transform(self, X: object) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)


def edge_variant(pipeline: Any, X: pd.DataFrame, y: Any) -> Any:
    """The pipeline with its estimator refit to convert exactly: no native categories
    (their codes become plain numbers) and trained on the float32 values the edge
    model reads. The feature and preprocessing steps are kept as fitted."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    builder, preprocess, estimator = _steps(pipeline)
    refit = clone(estimator)
    if "categorical_features" in refit.get_params():
        refit.set_params(categorical_features=None)
    cast = Float32()
    refit.fit(cast.transform(preprocess.transform(builder.transform(X))), y)
    steps = [("features", builder), ("preprocess", preprocess), ("float32", cast)]
    return Pipeline([*steps, ("model", refit)])
