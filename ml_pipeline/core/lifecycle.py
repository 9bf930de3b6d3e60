"""Train a challenger, validate it against the champion, and deploy the winner.

These functions hold the whole model lifecycle without any orchestration: the
Dagster assets call them and turn their results into metadata.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import evaluation, promotion, tracking, training
from ml_pipeline.core.features import raw_input_columns
from ml_pipeline.core.reference import ReferenceProfile, build_reference
from ml_pipeline.core.splitting import HoldoutSpec, holdout_mask, plan_holdout
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
    train_rows: int
    holdout_rows: int
    holdout: HoldoutSpec
    holdout_key: str
    data_fingerprint: str
    baseline: object = field(repr=False)
    reference: ReferenceProfile | None = field(default=None, repr=False)
    seconds: float = 0.0


@dataclass
class ValidationOutcome:
    metric: str
    challenger: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None
    champion_version: str | None
    decision: promotion.Decision
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class DeploymentOutcome:
    promoted: bool
    version: str | None
    replaced_version: str | None
    artifact_path: Path | None
    reason: str


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
    warehouse: Warehouse, partitions: list[str], config: PipelineConfig
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
    )
    seed = config.training.random_seed
    train = warehouse.sample(
        FEATURES_TABLE,
        partitions,
        config.training.sample_rows,
        seed,
        row_filter=lambda frame: ~holdout_mask(frame, spec),
        columns=columns,
    )
    holdout = warehouse.sample(
        FEATURES_TABLE,
        partitions,
        config.holdout.max_rows,
        seed,
        row_filter=lambda frame: holdout_mask(frame, spec),
        columns=columns,
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
    train, holdout, spec = split_for_training(warehouse, partitions, config)
    _require_rows(train, "the training sample", settings.cv_folds * 10)
    _require_rows(holdout, "the holdout", 2)
    X, y = train.drop(columns=[dataset.target]), train[dataset.target]
    metric = config.promotion_metric
    ignored = [*dataset.id_columns, *dataset.drop_columns]

    experiment_id = store.activate()
    data_fingerprint = fingerprint(train)
    run_tags = {**tags, "ml_pipeline.data_fingerprint": data_fingerprint}
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
        train_rows=len(train),
        holdout_rows=len(holdout),
        holdout=spec,
        holdout_key=holdout_key,
        data_fingerprint=data_fingerprint,
        baseline=evaluation.fit_baseline(dataset.task, y),
        reference=reference,
        seconds=time.perf_counter() - started,
    )


def validate_challenger(
    outcome: TrainingOutcome,
    warehouse: Warehouse,
    config: PipelineConfig,
    store: tracking.MlflowStore,
    override: str | None = None,
) -> ValidationOutcome:
    """Score the challenger, the baseline and the current champion on the same holdout."""
    import mlflow
    import mlflow.sklearn

    store.activate()
    task, target = config.dataset.task, config.dataset.target
    holdout = warehouse.read(HOLDOUT_TABLE, outcome.holdout_key)
    X, y = holdout.drop(columns=[target]), holdout[target]
    challenger = evaluation.score(mlflow.sklearn.load_model(outcome.model_uri), X, y, task)
    baseline = evaluation.score(outcome.baseline, X, y, task)
    champion_version = store.champion()
    champion = None
    if champion_version is not None:
        champion = evaluation.score(store.load_version(champion_version.version), X, y, task)
    decision = promotion.decide(
        challenger,
        champion,
        outcome.metric,
        config.promotion.min_improvement,
        dict(config.promotion.thresholds),
        override,
    )
    with mlflow.start_run(run_id=outcome.mlflow_run_id):
        mlflow.log_metrics({f"holdout_{k}": v for k, v in challenger.items()})
        mlflow.log_metrics({f"baseline_{k}": v for k, v in baseline.items()})
        if champion is not None:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champion.items()})
        mlflow.set_tags(
            {
                "ml_pipeline.promote": str(decision.promote),
                "ml_pipeline.decision": decision.reason[:5000],
            }
        )
    return ValidationOutcome(
        metric=outcome.metric,
        challenger=challenger,
        baseline=baseline,
        champion=champion,
        champion_version=str(champion_version.version) if champion_version else None,
        decision=decision,
    )


def deploy(
    outcome: TrainingOutcome,
    validation: ValidationOutcome,
    store: tracking.MlflowStore,
    deploy_dir: Path,
    tags: dict[str, str],
    reference_path: Path | None = None,
) -> DeploymentOutcome:
    """Register and promote the challenger if it won; export whichever model is champion.

    A promoted challenger's training profile becomes the reference that landed data
    is checked and measured for drift against.
    """
    store.activate()
    if validation.decision.promote:
        version = store.register(
            outcome.model_uri,
            {
                **tags,
                "ml_pipeline.mlflow_run_id": outcome.mlflow_run_id,
                "ml_pipeline.partitions": ",".join(outcome.partitions)[:5000],
                "ml_pipeline.data_fingerprint": outcome.data_fingerprint,
            },
        )
        replaced = store.promote(version)
        if reference_path is not None and outcome.reference is not None:
            outcome.reference.save(reference_path)
    else:
        current = store.champion()
        version = str(current.version) if current else None
        replaced = None
    artifact = tracking.export_version(store, version, deploy_dir) if version else None
    return DeploymentOutcome(
        promoted=validation.decision.promote,
        version=version,
        replaced_version=replaced,
        artifact_path=artifact,
        reason=validation.decision.reason,
    )
