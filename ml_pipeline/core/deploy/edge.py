"""The edge artifact of a deployment: ``model.onnx``, published only when it predicts
what the deployed scikit-learn model predicts.

The deployed pipeline is converted first. When it cannot be converted exactly (no
converter, or the parity check finds rows that differ), an edge-compatible variant of
the challenger is refit on its own training rows (no native categories, float32
inputs), scored on the same holdout, and published instead only if it converts
exactly and meets the promotion thresholds. Otherwise nothing is published, and the
outcome says why; the MLflow model is deployed either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml_pipeline.config import DeployConfig, ModelingConfig
from ml_pipeline.core import tracking
from ml_pipeline.core.deploy import onnx_export
from ml_pipeline.core.model import evaluation, refit
from ml_pipeline.core.model.challenger import HOLDOUT_TABLE, TrainingOutcome
from ml_pipeline.core.model.gate import SMOKE_ROWS, ValidationOutcome
from ml_pipeline.core.model.promotion import threshold_failures

ONNX_FILE = "model.onnx"


@dataclass
class EdgeOutcome:
    published: bool
    note: str
    variant: bool = False
    variant_metrics: dict[str, float] | None = None
    size_bytes: int | None = None
    model: bytes | None = field(default=None, repr=False)

    def card(self) -> dict[str, object]:
        return {
            "onnx": ONNX_FILE if self.published else None,
            "note": self.note,
            "variant": self.variant,
            "variant_metrics": self.variant_metrics,
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True)
class EdgeInputs:
    """What the edge export checks against: rows to compare the two models on, the
    holdout (to score a variant) and how to get the challenger's training rows."""

    check_rows: pd.DataFrame
    holdout_X: pd.DataFrame
    holdout_y: pd.Series
    training_rows: Callable[[], tuple[pd.DataFrame, pd.Series]]
    thresholds: dict[str, float]
    tolerance: float


def _converted(pipeline: Any, task: str, rows: pd.DataFrame, tolerance: float):
    """The serialized model and its parity, or None and why it could not be converted."""
    try:
        model = onnx_export.export_onnx(pipeline, task)
    except onnx_export.EdgeExportError as error:
        return None, f"no ONNX conversion: {error}"
    result = onnx_export.parity(pipeline, model, rows, task, tolerance)
    return (model, result.describe()) if result.passed else (None, result.describe())


def edge_for_deployment(
    modeling: ModelingConfig,
    settings: DeployConfig,
    training: TrainingOutcome,
    validation: ValidationOutcome,
    warehouse,
) -> EdgeOutcome:
    """``model.onnx`` for a promotion, checked on the smoke-test rows and a sample of the
    holdout against the model it stands for. ``warehouse`` holds the holdout."""

    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as error:
        return EdgeOutcome(
            False,
            f"not published: deploy.onnx needs the edge extra (pip install -e '.[edge]'): {error}",
        )
    target = modeling.dataset.target
    holdout = warehouse.read(HOLDOUT_TABLE, training.holdout_key)
    X, y = holdout.drop(columns=[target]), holdout[target]
    sample = X.sample(min(len(X), settings.onnx_parity_rows), random_state=0)
    check_rows = tracking.as_landed(pd.concat([X.head(SMOKE_ROWS), sample], ignore_index=True))
    deploy = validation.deploy
    deployed_uri = deploy.model_uri if deploy is not None else training.model_uri
    inputs = EdgeInputs(
        check_rows=check_rows,
        holdout_X=X,
        holdout_y=y,
        training_rows=lambda: refit.training_sample(training, warehouse, modeling),
        thresholds=dict(modeling.promotion.thresholds),
        tolerance=settings.onnx_tolerance,
    )
    return build_edge_model(
        tracking.load_sklearn_model(deployed_uri),
        tracking.load_sklearn_model(training.model_uri),
        modeling.dataset.task,
        inputs,
    )


def build_edge_model(deployed: Any, challenger: Any, task: str, inputs: EdgeInputs) -> EdgeOutcome:
    model, said = _converted(deployed, task, inputs.check_rows, inputs.tolerance)
    if model is not None:
        return EdgeOutcome(True, said, size_bytes=len(model), model=model)
    X, y = inputs.training_rows()
    variant = onnx_export.edge_variant(challenger, X, y)
    model, variant_said = _converted(variant, task, inputs.check_rows, inputs.tolerance)
    if model is None:
        return EdgeOutcome(
            False, f"{said}; the edge-compatible variant too: {variant_said}", variant=True
        )
    metrics = evaluation.score(variant, inputs.holdout_X, inputs.holdout_y, task)
    failures = threshold_failures(metrics, inputs.thresholds)
    if failures:
        return EdgeOutcome(
            False,
            f"{said}; the edge-compatible variant converts exactly but {'; '.join(failures)}",
            variant=True,
            variant_metrics=metrics,
        )
    return EdgeOutcome(
        True,
        f"{said}; published an edge-compatible variant (refit without native categories "
        f"on float32 inputs, {len(X)} rows): {variant_said}",
        variant=True,
        variant_metrics=metrics,
        size_bytes=len(model),
        model=model,
    )


def log_edge_model(model: bytes) -> None:
    """Log ``model.onnx`` with ``mlflow.onnx`` in the active run, with its own input
    schema (the edge feature step's output, not the raw columns)."""
    import mlflow.onnx
    import numpy as np
    import onnx
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    proto = onnx.load_from_string(model)
    widths = {
        tensor.name: tensor.type.tensor_type.shape.dim[1].dim_value for tensor in proto.graph.input
    }
    signature = ModelSignature(
        inputs=Schema(
            [
                TensorSpec(np.dtype(np.float32), (-1, widths["numeric"]), "numeric"),
                TensorSpec(np.dtype(object), (-1, widths["categorical"]), "categorical"),
            ]
        )
    )
    mlflow.onnx.log_model(
        proto,
        name="edge_model",
        signature=signature,
        pip_requirements=["onnxruntime", "numpy"],
        save_as_external_data=False,
    )
