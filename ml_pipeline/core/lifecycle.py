"""Train a challenger: split, sample, tune every candidate, log to MLflow.

Validation and deployment follow in :mod:`validation` and :mod:`deployment`;
none of them imports Dagster, whose assets call them and attach metadata.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import evaluation, tracking, training
from ml_pipeline.core.feature_table import raw_input_columns
from ml_pipeline.core.reference import ReferenceProfile, build_reference
from ml_pipeline.core.splitting import HoldoutSpec, count_holdout_rows, holdout_mask, plan_holdout
from ml_pipeline.core.warehouse import Warehouse

FEATURES_TABLE = "features"
HOLDOUT_TABLE = "holdout"


@dataclass
class TrainingOutcome:
    mlflow_run_id: str
    model_uri: str
    metric: str
    challenger: str
    candidates: list[dict[str, object]]
    partitions: list[str]
    partition_rows: dict[str, int]
    train_rows: int
    holdout_rows: int
    holdout: HoldoutSpec
    holdout_key: str
    data_fingerprint: str
    baseline: object = field(repr=False)
    reference: ReferenceProfile | None = field(default=None, repr=False)
    seconds: float = 0.0


def code_version() -> str:
    """The git commit of the checkout this code runs from, or ``unknown``."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 else "unknown"


def fingerprint(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def split_for_training(
    warehouse: Warehouse,
    partitions: list[str],
    config: PipelineConfig,
    champion_cutoff: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, HoldoutSpec]:
    """A bounded training sample and a bounded holdout, disjoint by construction."""
    dataset = config.dataset
    columns = [
        *raw_input_columns(warehouse.columns(FEATURES_TABLE, partitions[0]), dataset.target),
        dataset.target,
    ]
    hash_columns = dataset.id_columns or [c for c in columns if c != dataset.target]
    spec = plan_holdout(
        warehouse,
        FEATURES_TABLE,
        partitions,
        config.holdout.fraction,
        dataset.timestamp_column,
        hash_columns,
        champion_cutoff,
    )
    seed = config.training.random_seed
    withheld = count_holdout_rows(warehouse, FEATURES_TABLE, partitions, spec)
    total = sum(warehouse.row_count(FEATURES_TABLE, key) for key in partitions)
    train = warehouse.sample(
        FEATURES_TABLE,
        partitions,
        config.training.sample_rows,
        seed,
        row_filter=lambda frame: ~holdout_mask(frame, spec),
        columns=columns,
        population=total - withheld,
    )
    holdout = warehouse.sample(
        FEATURES_TABLE,
        partitions,
        config.holdout.max_rows,
        seed,
        row_filter=lambda frame: holdout_mask(frame, spec),
        columns=columns,
        population=withheld,
    )
    if dataset.timestamp_column:
        train = train.sort_values(dataset.timestamp_column, kind="stable").reset_index(drop=True)
    return train, holdout, spec


def _require_rows(frame: pd.DataFrame, what: str, minimum: int) -> None:
    if len(frame) < minimum:
        raise ValueError(
            f"{what} has {len(frame)} rows, fewer than the {minimum} needed: land more data"
        )


def train_challenger(
    warehouse: Warehouse,
    partitions: list[str],
    config: PipelineConfig,
    store: tracking.MlflowStore,
    tags: dict[str, str],
) -> TrainingOutcome:
    """Tune every candidate on the training sample, log them, and keep the best."""
    import mlflow

    if not partitions:
        raise ValueError("no feature partitions to train on: ingest landed files first")
    started = time.perf_counter()
    dataset, settings = config.dataset, config.training
    train, holdout, spec = split_for_training(
        warehouse, partitions, config, store.champion_holdout_cutoff()
    )
    _require_rows(train, "the training sample", settings.cv_folds * 10)
    _require_rows(holdout, "the holdout", 2)
    X, y = train.drop(columns=[dataset.target]), train[dataset.target]
    metric = config.promotion_metric
    ignored = dataset.ignored_columns

    experiment_id = store.activate()
    data_fingerprint = fingerprint(train)
    run_tags = {
        **tags,
        "ml_pipeline.data_fingerprint": data_fingerprint,
        "ml_pipeline.partition_count": str(len(partitions)),
        # MLflow caps tag values at 5000 characters; the model card lists every partition.
        "ml_pipeline.partitions": ",".join(partitions)[:5000],
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name="train", tags=run_tags) as parent:
        results = []
        for candidate in settings.candidates:
            with mlflow.start_run(run_name=candidate.name, nested=True, tags=tags):
                result = training.tune_candidate(
                    candidate,
                    dataset.task,
                    X,
                    y,
                    metric=metric,
                    timestamp_column=dataset.timestamp_column,
                    ignored_columns=ignored,
                    folds=settings.cv_folds,
                    iterations=settings.search_iterations,
                    n_jobs=settings.n_jobs,
                    seed=settings.random_seed,
                    missing_indicator=config.cleaning.missing == "indicator",
                )
                mlflow.log_params({"estimator": candidate.estimator, **result.params})
                mlflow.log_metrics(
                    {
                        f"cv_{metric}": result.cv_score,
                        "cv_std": result.cv_std,
                        "fit_seconds": result.fit_seconds,
                    }
                )
            results.append(result)
        training.release_search_workers(settings.n_jobs)
        best = training.pick_challenger(results, evaluation.higher_is_better(metric))
        mlflow.log_params(
            {
                "challenger": best.name,
                "train_rows": len(train),
                "holdout_rows": len(holdout),
                "holdout": spec.describe(),
                "partitions": len(partitions),
            }
        )
        mlflow.log_metric(f"cv_{metric}", best.cv_score)
        builder = best.model.named_steps["features"]
        reference = build_reference(
            train,
            dataset.target,
            ignored,
            dataset.timestamp_column,
            list(builder.get_feature_names_out()),
        )
        mlflow.log_text(reference.to_json(), "reference_profile.json")
        signature = tracking.signature_for(X, best.model.predict(X.head(50)), ignored)
        model_uri = tracking.log_sklearn_model(best.model, signature, tracking.as_landed(X.head(5)))
        holdout_key = parent.info.run_id
    warehouse.write(HOLDOUT_TABLE, holdout_key, holdout)
    return TrainingOutcome(
        mlflow_run_id=parent.info.run_id,
        model_uri=model_uri,
        metric=metric,
        challenger=best.name,
        candidates=[result.row(metric) for result in results],
        partitions=partitions,
        partition_rows={key: warehouse.row_count(FEATURES_TABLE, key) for key in partitions},
        train_rows=len(train),
        holdout_rows=len(holdout),
        holdout=spec,
        holdout_key=holdout_key,
        data_fingerprint=data_fingerprint,
        baseline=evaluation.fit_baseline(dataset.task, y),
        reference=reference,
        seconds=time.perf_counter() - started,
    )
