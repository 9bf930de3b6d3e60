"""The edge artifact of a deployment: ``model.onnx``, the deployed model itself.

With ``deploy.onnx`` every candidate was fitted in its edge-exact form and none could
win without passing the check (``core/model/challenger``), so the deployed model
converts. It is checked again, on every holdout row and the hard rows built from
them; should it fail, nothing is published, and the outcome says why: no other model
ever stands in for it. The MLflow model is deployed either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_pipeline.config import ModelingConfig
from ml_pipeline.core import edge_parity, tracking
from ml_pipeline.core.model.challenger import HOLDOUT_TABLE, TrainingOutcome
from ml_pipeline.core.model.gate import ValidationOutcome
from ml_pipeline.core.outages import one_line, outage

ONNX_FILE = "model.onnx"


@dataclass
class EdgeOutcome:
    published: bool
    note: str
    size_bytes: int | None = None
    model: bytes | None = field(default=None, repr=False)

    def card(self) -> dict[str, object]:
        return {
            "onnx": ONNX_FILE if self.published else None,
            "note": self.note,
            "size_bytes": self.size_bytes,
        }


def edge_for_deployment(
    modeling: ModelingConfig,
    training: TrainingOutcome,
    validation: ValidationOutcome,
    warehouse,
) -> EdgeOutcome:
    """``model.onnx`` for a promotion, checked on every holdout row (``warehouse`` holds
    the holdout) and on hard rows, against the model it stands for."""

    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as error:
        return EdgeOutcome(
            False,
            f"not published: deploy.onnx needs the edge extra (pip install -e '.[edge]'): {error}",
        )
    dataset = modeling.dataset
    holdout = warehouse.read(HOLDOUT_TABLE, training.holdout_key)
    deploy = validation.deploy
    deployed_uri = deploy.model_uri if deploy is not None else training.model_uri
    return build_edge_model(
        tracking.load_sklearn_model(deployed_uri),
        dataset.task,
        holdout.drop(columns=[dataset.target]),
        modeling.edge_tolerance,
        dataset.id_columns[0] if dataset.id_columns else None,
    )


def build_edge_model(
    deployed: Any, task: str, rows, tolerance: float, id_column: str | None = None
) -> EdgeOutcome:
    try:
        model, said = edge_parity.exactness(deployed, task, rows, tolerance, id_column)
    except Exception as error:  # the MLflow deployment goes ahead without model.onnx
        if outage(error) is not None:
            raise
        return EdgeOutcome(False, f"not published: the check failed: {one_line(error)}")
    if model is None:
        return EdgeOutcome(False, f"not published: {said}")
    return EdgeOutcome(True, said, size_bytes=len(model), model=model)


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
