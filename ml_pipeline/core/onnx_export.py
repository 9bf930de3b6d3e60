"""A trained pipeline as one ONNX model for the edge, and the parity that gates it.

The feature step stays outside the graph: ``ml_pipeline.core.edge_features`` reimplements
it in NumPy, and its spec travels in the model's metadata. The graph takes what that
step yields, ``numeric`` (float64) and ``categorical`` (strings), and holds the rest in
float64, as scikit-learn computes it; a tree reads its inputs cast to float32, as
scikit-learn's forests do and an edge-exact pipeline's ``float32`` step does:

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
the holdout and on :func:`hard_rows`, each read from the same CSV text, the way a
client's file reaches the service and the device.

A pipeline built with ``edge_exact`` (``deploy.onnx``) converts exactly: its trees read
float32, as ONNX trees do, and each threshold becomes the largest float32 that splits
float32 inputs as the float64 threshold does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.core.edge_features import MISSING, SPEC_KEY, EdgeSpec

OPSET = 17
ML_OPSET = 3
# onnx.TensorProto's element types, without importing onnx at module import.
FLOAT, DOUBLE = 1, 11
UNSEEN = "\x00unseen"
FULL_STEPS = ["features", "preprocess", "model"]
EDGE_STEPS = ["features", "preprocess", "float32", "model"]


class EdgeExportError(RuntimeError):
    """The pipeline has a part this exporter cannot express; the message names it."""


def pipeline_parts(pipeline: Any) -> tuple[Any, Any, Any]:
    """The feature step, the preprocessing and the estimator (a ``float32`` step between
    the last two, as an edge-exact pipeline has, is what the ONNX input does anyway)."""
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
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
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
        low = np.asarray(clipper.low_, dtype=np.float64)[kept]
        high = np.asarray(clipper.high_, dtype=np.float64)[kept]
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
            helper.make_node("Cast", ["num_flags"], ["num_indicators"], to=DOUBLE),
            helper.make_node("Concat", [current, "num_indicators"], ["num_with_flags"], axis=1),
        ]
        current = "num_with_flags"
    scaler = steps.get("scale")
    if scaler is not None:
        mean = scaler.mean_ if scaler.with_mean else np.zeros(scaler.n_features_in_)
        scale = scaler.scale_ if scaler.with_std else np.ones(scaler.n_features_in_)
        nodes += [
            _const(helper, numpy_helper, "num_mean", np.asarray(mean, dtype=np.float64)),
            _const(helper, numpy_helper, "num_scale", np.asarray(scale, dtype=np.float64)),
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
        table = np.asarray(block.transform(probe), dtype=np.float64)
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


def _preprocess_model(builder: Any, preprocess: Any, tree: bool, helper, numpy_helper, onnx):
    """The ColumnTransformer as a graph from (numeric, categorical) to ``design``: float64,
    or float32 for a tree."""
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
    nodes.append(helper.make_node("Concat", parts, ["design64"], axis=1))
    nodes.append(helper.make_node("Cast", ["design64"], ["design"], to=FLOAT if tree else DOUBLE))
    tensor = onnx.TensorProto
    graph = helper.make_graph(
        nodes,
        "preprocess",
        [
            helper.make_tensor_value_info("numeric", tensor.DOUBLE, [None, len(numeric_columns)]),
            helper.make_tensor_value_info(
                "categorical", tensor.STRING, [None, len(builder.categorical_columns_)]
            ),
        ],
        [helper.make_tensor_value_info("design", FLOAT if tree else DOUBLE, [None, None])],
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


def float32_below(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 threshold: for every float32 x,
    ``x <= t`` holds exactly when ``x <= float32_below(t)`` does."""
    rounded = thresholds.astype(np.float32)
    above = rounded.astype(np.float64) > thresholds
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def gradient_boosting_trees(estimator: Any) -> list[Any] | None:
    """HistGradientBoosting's trees in the order skl2onnx numbers them."""
    predictors = getattr(estimator, "_predictors", None)
    if predictors is None:
        return None
    return [tree for iteration in predictors for tree in iteration]


def _round_thresholds_down(model, estimator: Any) -> None:
    """skl2onnx rounds HistGradientBoosting's float64 thresholds to the nearest float32,
    which sends a float32 value lying between the two the other way; the forest
    converter already rounds down."""
    trees = gradient_boosting_trees(estimator)
    if trees is None:
        return
    from onnx import helper

    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attributes = {a.name: a for a in node.attribute}
        values = np.asarray(attributes["nodes_values"].floats, dtype=np.float32)
        branch = np.asarray(attributes["nodes_modes"].strings) != b"LEAF"
        pairs = zip(attributes["nodes_treeids"].ints, attributes["nodes_nodeids"].ints, strict=True)
        originals = np.asarray([trees[tree].nodes["num_threshold"][at] for tree, at in pairs])
        values[branch] = float32_below(originals[branch])
        node.attribute.remove(attributes["nodes_values"])
        node.attribute.append(helper.make_attribute("nodes_values", values.tolist()))


def is_tree(estimator: Any) -> bool:
    """Forests and gradient boosting: what reads float32 in scikit-learn or the edge."""
    return hasattr(estimator, "estimators_") or hasattr(estimator, "_predictors")


def _estimator_model(estimator: Any, width: int, task: str):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    tensor_type = FloatTensorType if is_tree(estimator) else DoubleTensorType

    options = {id(estimator): {"zipmap": False}} if task == "classification" else None
    try:
        model = convert_sklearn(
            estimator,
            initial_types=[("design", tensor_type([None, width]))],
            options=options,
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    except Exception as error:
        raise EdgeExportError(
            f"{type(estimator).__name__}: no ONNX conversion: {type(error).__name__}: {error}"
        ) from None
    _route_missing_values(model, estimator)
    _round_thresholds_down(model, estimator)
    return model


def edge_spec(pipeline: Any, task: str, id_column: str | None = None) -> EdgeSpec:
    builder, _preprocess, estimator = pipeline_parts(pipeline)
    classes = getattr(estimator, "classes_", None)
    return EdgeSpec(
        task=task,
        timestamp_column=builder.timestamp_column,
        numeric_columns=list(builder.numeric_columns_),
        categorical_columns=list(builder.categorical_columns_),
        classes=[str(c) for c in classes] if classes is not None else None,
        id_column=id_column,
    )


def export_onnx(pipeline: Any, task: str, id_column: str | None = None) -> bytes:
    """The pipeline after its feature step as one serialized ONNX model."""
    import onnx
    from onnx import compose, helper, numpy_helper

    builder, preprocess, estimator = pipeline_parts(pipeline)
    width = int(getattr(estimator, "n_features_in_", 0))
    pre = _preprocess_model(builder, preprocess, is_tree(estimator), helper, numpy_helper, onnx)
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
    spec = edge_spec(pipeline, task, id_column)
    helper.set_model_props(merged, {SPEC_KEY: spec.to_json()})
    onnx.checker.check_model(merged)
    return merged.SerializeToString()
