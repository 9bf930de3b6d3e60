"""Validate a challenger on withheld rows, next to the baseline and the champion.

Everything is scored on the same holdout in the same run, the challenger's
exported artifact is smoke-tested in a fresh process, and the promotion
decision follows the configured rules unless a person overrides it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import diagnostics, evaluation, promotion, tracking
from ml_pipeline.core.crashpoints import crash_point
from ml_pipeline.core.lifecycle import HOLDOUT_TABLE, TrainingOutcome, prune_holdouts
from ml_pipeline.core.smoke import SmokeResult, smoke_test
from ml_pipeline.core.warehouse import Warehouse

SMOKE_ROWS = 500


@dataclass
class ValidationOutcome:
    metric: str
    challenger: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None
    champion_version: str | None
    decision: promotion.Decision
    smoke: SmokeResult | None = None
    classes: list[str] = field(default_factory=list)
    confusion: list[list[int]] | None = None
    importances: dict[str, float] = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)


def _plots(
    model: object,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    importances: pd.Series,
    confusion: list[list[int]] | None,
) -> dict[str, bytes]:
    plots = {"permutation_importance": diagnostics.importance_plot(importances)}
    if task == "regression":
        plots["residuals"] = diagnostics.residual_plot(y, model.predict(X))
    else:
        classes = list(model.classes_)
        plots["confusion_matrix"] = diagnostics.confusion_plot(confusion, classes)
        plots["roc"] = diagnostics.roc_plot(y, model.predict_proba(X), classes)
    return plots


def smoke_test_challenger(model: object, model_uri: str, X: pd.DataFrame) -> SmokeResult:
    """Export the logged challenger as deployed and score holdout rows in a fresh process."""
    import mlflow.artifacts

    sample = X.head(SMOKE_ROWS)
    rows = tracking.as_landed(sample)
    with tempfile.TemporaryDirectory() as scratch:
        exported = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch)
        return smoke_test(Path(exported), rows, np.asarray(model.predict(sample)), list(X.columns))


def validate_challenger(
    outcome: TrainingOutcome,
    warehouse: Warehouse,
    config: PipelineConfig,
    store: tracking.MlflowStore,
    override: str | None = None,
) -> ValidationOutcome:
    import mlflow
    import mlflow.sklearn

    store.activate()
    task, target, metric = config.dataset.task, config.dataset.target, outcome.metric
    holdout = warehouse.read(HOLDOUT_TABLE, outcome.holdout_key)
    X, y = holdout.drop(columns=[target]), holdout[target]
    prune_holdouts(warehouse, {outcome.holdout_key, *store.registered_run_ids()})
    model = mlflow.sklearn.load_model(outcome.model_uri)
    challenger = evaluation.score(model, X, y, task)
    baseline = evaluation.score(outcome.baseline, X, y, task)
    current = store.champion()
    champion = None
    if current is not None:
        champion_model = store.load_version(str(current.version))
        # A champion of the other task (the config's task was changed) cannot be compared.
        if hasattr(champion_model, "classes_") == (task == "classification"):
            champion = evaluation.score(champion_model, X, y, task)

    classes = [str(c) for c in getattr(model, "classes_", [])]
    confusion = (
        evaluation.confusion(y, model.predict(X), list(model.classes_))
        if task == "classification"
        else None
    )
    importances = diagnostics.permutation_importances(
        model, X, y, metric, config.training.random_seed
    )
    plots = _plots(model, X, y, task, importances, confusion)
    smoke = smoke_test_challenger(model, outcome.model_uri, X)

    decision = promotion.decide(
        challenger,
        champion,
        metric,
        config.promotion.min_improvement,
        dict(config.promotion.thresholds),
        override,
    )
    if not smoke.passed:
        decision = promotion.Decision(False, f"smoke test failed: {smoke.message}")

    with mlflow.start_run(run_id=outcome.mlflow_run_id):
        mlflow.log_metrics({f"holdout_{k}": v for k, v in challenger.items()})
        crash_point("validation")
        mlflow.log_metrics({f"baseline_{k}": v for k, v in baseline.items()})
        if champion is not None:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champion.items()})
        with tempfile.TemporaryDirectory() as scratch:
            for name, png in plots.items():
                (Path(scratch) / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(scratch, "diagnostics")
        mlflow.log_dict(
            {k: float(v) for k, v in importances.items()}, "diagnostics/permutation_importance.json"
        )
        mlflow.set_tags(
            {
                "ml_pipeline.promote": str(decision.promote),
                "ml_pipeline.decision": decision.reason[:5000],
                "ml_pipeline.smoke_test": smoke.message[:5000],
            }
        )
    return ValidationOutcome(
        metric=metric,
        challenger=challenger,
        baseline=baseline,
        champion=champion,
        champion_version=str(current.version) if current is not None else None,
        decision=decision,
        smoke=smoke,
        classes=classes,
        confusion=confusion,
        importances={k: float(v) for k, v in importances.items()},
        plots=plots,
    )
