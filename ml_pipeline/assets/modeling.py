"""Whole-history assets: trained_model → validation_metrics → deployed_model."""

import time
from typing import Literal

import dagster as dg

from ml_pipeline.assets.ingest import features
from ml_pipeline.assets.metadata import markdown_table
from ml_pipeline.core import lifecycle
from ml_pipeline.resources import MlflowResource, PipelineSettings, WarehouseResource

MODEL_GROUP = "model"


class PromotionOverride(dg.Config):
    """A person's call on this run's promotion; ``auto`` applies the configured rules."""

    decision: Literal["auto", "force", "refuse"] = "auto"


def _run_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    tags = {
        "dagster.run_id": context.run_id,
        "ml_pipeline.code_version": lifecycle.code_version(),
    }
    trigger = context.run.tags.get("ml_pipeline/trigger")
    if trigger:
        tags["ml_pipeline.trigger"] = trigger
    return tags


def _trainable_partitions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> list[str]:
    """Registered partitions whose features were written; failed files never get that far."""
    registered = set(context.instance.get_dynamic_partitions(features.partitions_def.name))
    return [key for key in warehouse.get().partitions("features") if key in registered]


@dg.asset(
    deps=[features],
    group_name=MODEL_GROUP,
    description=(
        "The challenger: every configured candidate tuned by cross-validation on a bounded "
        "sample of all feature partitions except the holdout, the best refit and logged to MLflow."
    ),
    kinds={"scikitlearn", "mlflow"},
)
def trained_model(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.Output[lifecycle.TrainingOutcome]:
    config = settings.load()
    partitions = _trainable_partitions(context, warehouse)
    outcome = lifecycle.train_challenger(
        warehouse.get(), partitions, config, mlflow.get(), _run_tags(context)
    )
    return dg.Output(
        outcome,
        metadata={
            "challenger": outcome.challenger,
            "candidates": markdown_table(outcome.candidates),
            "mlflow_run_id": outcome.mlflow_run_id,
            "model_uri": outcome.model_uri,
            "partitions": len(outcome.partitions),
            "train_rows": outcome.train_rows,
            "holdout_rows": outcome.holdout_rows,
            "holdout": outcome.holdout.describe(),
            "data_fingerprint": outcome.data_fingerprint,
            "seconds": round(outcome.seconds, 2),
        },
    )


@dg.asset(
    group_name=MODEL_GROUP,
    description=(
        "Holdout metrics of the challenger next to a trivial baseline and the current champion, "
        "all scored on the same withheld rows, and the promotion decision."
    ),
    kinds={"mlflow"},
)
def validation_metrics(
    context: dg.AssetExecutionContext,
    config: PromotionOverride,
    trained_model: lifecycle.TrainingOutcome,
    settings: PipelineSettings,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.Output[lifecycle.ValidationOutcome]:
    started = time.perf_counter()
    override = None if config.decision == "auto" else config.decision
    outcome = lifecycle.validate_challenger(
        trained_model, warehouse.get(), settings.load(), mlflow.get(), override
    )
    context.log.info(f"promote={outcome.decision.promote}: {outcome.decision.reason}")
    rows = [
        {"model": "challenger", **outcome.challenger},
        {"model": "baseline", **outcome.baseline},
    ]
    if outcome.champion is not None:
        rows.append({"model": f"champion v{outcome.champion_version}", **outcome.champion})
    return dg.Output(
        outcome,
        metadata={
            "metrics": markdown_table(rows),
            **{f"holdout_{k}": v for k, v in outcome.challenger.items()},
            **{f"baseline_{k}": v for k, v in outcome.baseline.items()},
            "promote": outcome.decision.promote,
            "decision": outcome.decision.reason,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )


@dg.asset(
    group_name=MODEL_GROUP,
    description=(
        "The champion: registered in MLflow under the alias `champion` and exported as an "
        "MLflow model directory under the deploy folder, which takes raw landed columns."
    ),
    kinds={"mlflow"},
)
def deployed_model(
    context: dg.AssetExecutionContext,
    trained_model: lifecycle.TrainingOutcome,
    validation_metrics: lifecycle.ValidationOutcome,
    settings: PipelineSettings,
    mlflow: MlflowResource,
) -> dg.Output[lifecycle.DeploymentOutcome]:
    started = time.perf_counter()
    config = settings.load()
    outcome = lifecycle.deploy(
        trained_model,
        validation_metrics,
        mlflow.get(),
        config.deploy_dir,
        _run_tags(context),
        config.reference_path,
    )
    return dg.Output(
        outcome,
        metadata={
            "promoted": outcome.promoted,
            "champion_version": outcome.version or "none",
            "replaced_version": outcome.replaced_version or "none",
            "artifact_path": dg.MetadataValue.path(str(outcome.artifact_path or "")),
            "reason": outcome.reason,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
