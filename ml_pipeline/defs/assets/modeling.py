"""Whole-history assets: trained_model → validation_metrics → (promotion gate) → deployed_model."""

import time
import warnings
from typing import Literal

import dagster as dg

from ml_pipeline.core import images, names
from ml_pipeline.core.names import CODE_VERSION_TAG, DAGSTER_RUN_TAG, MLFLOW_TRIGGER_TAG
from ml_pipeline.core.triggers import why_trained
from ml_pipeline.defs.assets.ingest import contract_schema, features, live_partitions
from ml_pipeline.defs.assets.metadata import markdown_table
from ml_pipeline.defs.resources import MlflowResource, PipelineSettings, WarehouseResource
from ml_pipeline.defs.retries import retry_only_outages
from ml_pipeline.runtime.orphans import end_orphans

# The lifecycle modules (scikit-learn, MLflow) are imported inside the assets, and their
# outcome types are left off the signatures: loading the definitions, which every run and
# sensor tick does, then stays free of those imports.

MODEL_GROUP = "model"
PROMOTION_GATE = "promotion_gate"


class PromotionOverride(dg.Config):
    """A person's call on this run's promotion; ``auto`` applies the configured rules."""

    decision: Literal["auto", "force", "refuse"] = "auto"


def _run_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    from ml_pipeline.core.model import challenger

    tags = {
        DAGSTER_RUN_TAG: context.run_id,
        CODE_VERSION_TAG: challenger.code_version(),
    }
    trigger = context.run.tags.get(names.TRIGGER_TAG)
    if trigger:
        tags[MLFLOW_TRIGGER_TAG] = trigger
    started_by = context.run.tags.get(names.STARTED_BY_TAG)
    if started_by:
        tags[names.MLFLOW_STARTED_BY_TAG] = started_by
    return tags


def _images(plots: dict[str, bytes]) -> dg.MarkdownMetadataValue:
    return dg.MetadataValue.md(images.markdown_images(plots))


@dg.asset(
    deps=[features],
    group_name=MODEL_GROUP,
    description=(
        "The challenger: every configured candidate tuned by cross-validation on a bounded "
        "sample of all feature partitions except the holdout, the best refit and logged to MLflow."
    ),
    kinds={"scikitlearn", "mlflow"},
)
@retry_only_outages
def trained_model(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.Output:
    from ml_pipeline.core.model import challenger, search_reuse

    modeling = settings.load().modeling
    # A step attempt that died (its worker killed, the step redelivered) left its MLflow
    # runs RUNNING; no command may run between trainings on a cluster to end them, and
    # this attempt is the first to know that an earlier one of its own run died.
    ended = end_orphans(
        context.instance, mlflow.get(), sweep_mlflow=True, restarted_step_of=context.run_id
    )
    for line in ended.lines():
        context.log.warning(line)
    partitions = live_partitions(context, warehouse, names.FEATURES)
    tables = warehouse.get()
    contract = challenger.training_contract(modeling, tables, partitions)
    trigger = context.run.tags.get(names.TRIGGER_TAG)
    outcome = challenger.train_challenger(
        tables,
        partitions,
        modeling,
        mlflow.get(),
        _run_tags(context),
        contract,
        reuse_search=search_reuse.only_new_partitions(trigger),
    )
    why = why_trained(trigger)
    context.log.info(f"why this training ran: {why}")
    for key, reason in outcome.excluded.items():
        context.log.warning(f"partition {key} left out of training: {reason}")
    for warning in outcome.warnings:
        context.log.warning(warning)
    for name, error in outcome.failed.items():
        context.log.warning(f"candidate {name} failed and was left out: {error}")
    return dg.Output(
        outcome,
        metadata={
            "why_trained": why,
            "excluded_partitions": markdown_table(
                [{"partition": k, "reason": v} for k, v in outcome.excluded.items()]
            ),
            "warnings": dg.MetadataValue.md(
                "\n".join(f"- {w}" for w in outcome.warnings) or "none"
            ),
            "dagster/column_schema": contract_schema(contract),
            "contract_version": contract.version,
            "challenger": outcome.challenger,
            "search": outcome.search,
            "yardstick": outcome.yardstick or "not fitted",
            "candidates": markdown_table(outcome.candidates),
            "mlflow_run_id": outcome.mlflow_run_id,
            **_link("mlflow_run", mlflow.get().run_url(outcome.mlflow_run_id)),
            "model_uri": outcome.model_uri,
            "partitions": len(outcome.partitions),
            "train_rows": outcome.train_rows,
            "holdout_rows": outcome.holdout_rows,
            "holdout": outcome.holdout.describe(),
            "data_fingerprint": outcome.data_fingerprint,
            "seconds": round(outcome.seconds, 2),
        },
    )


def _link(name: str, url: str | None) -> dict[str, dg.MetadataValue]:
    """A metadata link to the MLflow UI, when its address is known (mlflow.ui_url)."""
    return {name: dg.MetadataValue.url(url)} if url else {}


def _metric_rows(outcome) -> list[dict[str, object]]:
    rows = [
        {"model": "challenger", "rows": outcome.holdout_rows, **outcome.challenger},
        {"model": "trivial baseline", "rows": outcome.holdout_rows, **outcome.baseline},
    ]
    if outcome.default_hgb is not None:
        rows.append({"model": "default HGB", "rows": outcome.holdout_rows, **outcome.default_hgb})
    if outcome.champion is not None:
        rows.append(
            {
                "model": f"champion v{outcome.champion_version} (rows neither saw)",
                "rows": outcome.compared_rows,
                **outcome.champion,
            }
        )
        rows.append(
            {
                "model": "challenger (same rows)",
                "rows": outcome.compared_rows,
                **outcome.challenger_compared,
            }
        )
    deploy = outcome.deploy
    if deploy is not None and deploy.refit and deploy.in_sample:
        rows.append(
            {"model": "refit, in-sample (not a test)", "rows": deploy.rows, **deploy.in_sample}
        )
    return rows


@dg.asset(
    group_name=MODEL_GROUP,
    description=(
        "Holdout metrics of the challenger next to a trivial baseline and the current champion, "
        "all scored on the same withheld rows; diagnostics plots; a smoke test of the exported "
        "artifact in a fresh process; and the promotion decision."
    ),
    kinds={"mlflow"},
)
@retry_only_outages
def validation_metrics(
    context: dg.AssetExecutionContext,
    config: PromotionOverride,
    trained_model,
    settings: PipelineSettings,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.Output:
    from ml_pipeline.core.model import gate

    started = time.perf_counter()
    override = None if config.decision == "auto" else config.decision
    outcome = gate.validate_challenger(
        trained_model, warehouse.get(), settings.load().modeling, mlflow.get(), override
    )
    context.log.info(f"promote={outcome.decision.promote}: {outcome.decision.reason}")
    metadata = {
        "metrics": markdown_table(_metric_rows(outcome)),
        **{f"holdout_{k}": v for k, v in outcome.challenger.items()},
        **{f"baseline_{k}": v for k, v in outcome.baseline.items()},
        **{f"reference_{k}": v for k, v in (outcome.default_hgb or {}).items()},
        "holdout_rows": outcome.holdout_rows,
        "compared_rows": outcome.compared_rows,
        "unmeasured": dg.MetadataValue.md(
            "\n".join(f"- {k}: {v}" for k, v in outcome.unmeasured.items()) or "none"
        ),
        "promote": outcome.decision.promote,
        "decision": outcome.decision.reason,
        "smoke_test": outcome.smoke.message if outcome.smoke else "not run",
        "permutation_importance": markdown_table(
            [{"column": k, "importance": round(v, 5)} for k, v in outcome.importances.items()]
        ),
        "plots": _images(outcome.plots),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if outcome.per_class:
        metadata["per_class"] = markdown_table(outcome.per_class)
    if outcome.confusion is not None:
        metadata["confusion_matrix"] = markdown_table(
            [
                {"actual": label, **dict(zip(outcome.classes, row, strict=True))}
                for label, row in zip(outcome.classes, outcome.confusion, strict=True)
            ]
        )
    return dg.Output(outcome, metadata=metadata)


@dg.asset_check(
    asset=validation_metrics,
    name=PROMOTION_GATE,
    description=(
        "The gate's decision. A challenger is promoted when it meets the thresholds, clearly "
        "beats the trivial baseline, beats the champion on rows neither trained on by the "
        "configured margin and more than the noise (or a person forced it), and its artifact "
        "passed the smoke test. Keeping the champion is routine: the check passes and says "
        "so. It warns only when something is wrong: the challenger's artifact failed its "
        "smoke test, or no model serves at all."
    ),
)
def promotion_gate(validation_metrics) -> dg.AssetCheckResult:
    outcome = validation_metrics
    from ml_pipeline.core.model.gate import gate_problem

    problem = gate_problem(outcome.decision, outcome.smoke, outcome.champion_version)
    return dg.AssetCheckResult(
        passed=problem is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=problem or outcome.decision.reason,
        metadata={
            "outcome": "promoted" if outcome.decision.promote else "champion kept",
            "decision": outcome.decision.reason,
            "metric": outcome.metric,
            "challenger": outcome.challenger.get(outcome.metric),
            "champion": (outcome.champion or {}).get(outcome.metric),
            "champion_version": outcome.champion_version or "none",
            "scores": markdown_table(_metric_rows(outcome)),
            "smoke_test": outcome.smoke.message if outcome.smoke else "not run",
        },
    )


@dg.asset(
    group_name=MODEL_GROUP,
    description=(
        "The champion: registered in MLflow under the alias `champion` and exported, with its "
        "model card, as an MLflow model directory under the deploy folder that takes raw "
        "landed columns. Its data version is the champion's: a keep records the champion "
        "still serving under the same version, so nothing downstream goes stale."
    ),
    kinds={"mlflow"},
    output_required=False,
)
@retry_only_outages
def deployed_model(
    context: dg.AssetExecutionContext,
    trained_model,
    validation_metrics,
    settings: PipelineSettings,
    mlflow: MlflowResource,
    warehouse: WarehouseResource,
):
    from ml_pipeline.core.deploy import deployment
    from ml_pipeline.core.deploy.edge import edge_for_deployment
    from ml_pipeline.core.deploy.model_card import card_markdown

    started = time.perf_counter()
    config = settings.load()
    store = mlflow.get()
    if not validation_metrics.decision.promote:
        context.log.info(f"champion kept: {validation_metrics.decision.reason}")
        if config.serving.shadow:
            shadowed = deployment.shadow_challenger(trained_model, store, config.deploy_dir)
            context.log.info(f"shadowed by the service: {shadowed or 'the candidate'}")
        yield from _kept(validation_metrics, store, config.deploy_dir)
        return
    edge = None
    if config.deploy.onnx:
        edge = edge_for_deployment(
            config.modeling, trained_model, validation_metrics, warehouse.get()
        )
        context.log.info(f"edge: {edge.note}")
    outcome = deployment.deploy(
        trained_model,
        validation_metrics,
        store,
        config.deploy_dir,
        _run_tags(context),
        config.reference_path,
        edge,
        config.promotion.approval,
    )
    if outcome.awaiting:
        context.log.info(outcome.reason)
    # The champion's version: a candidate awaiting approval changes nothing downstream.
    yield _champion_output(
        outcome,
        outcome.version,
        {
            "promoted": outcome.promoted,
            "awaiting_approval": outcome.awaiting or "none",
            "champion_version": outcome.version or "none",
            **_link(
                "registered_version",
                store.version_url(outcome.version) if outcome.version else None,
            ),
            "replaced_version": outcome.replaced_version or "none",
            "artifact_path": dg.MetadataValue.path(str(outcome.artifact_path or "")),
            "reason": outcome.reason,
            "edge_model": outcome.edge or "not asked for (deploy.onnx: false)",
            "model_card": dg.MetadataValue.md(card_markdown(outcome.card) if outcome.card else ""),
            "promotion_history": _history_table(store),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )


def _kept(validation, store, deploy_dir):
    """A keep, recorded as the champion still serving; nothing when no model serves (the
    gate's check says why)."""
    from ml_pipeline.core.deploy.deploy_folder import CURRENT_LINK
    from ml_pipeline.core.deploy.deployment import DeploymentOutcome

    version = validation.champion_version
    if version is None:
        return
    current = deploy_dir / CURRENT_LINK
    outcome = DeploymentOutcome(False, version, None, current, validation.decision.reason)
    yield _champion_output(
        outcome,
        version,
        {
            "promoted": False,
            "champion_version": version,
            **_link("registered_version", store.version_url(version)),
            "artifact_path": dg.MetadataValue.path(str(current)),
            "reason": f"champion kept: {outcome.reason}",
            "promotion_history": _history_table(store),
        },
    )


def _history_table(store) -> dg.MarkdownMetadataValue:
    """The latest promotion decisions, from the registry (``ml-pipeline history`` has all)."""
    from ml_pipeline.core.deploy.history import history_rows, promotion_history

    return markdown_table(history_rows(promotion_history(store)))


def _champion_output(outcome, version: str | None, metadata: dict) -> dg.Output:
    """deployed_model's output, with the serving champion's version as its data version.

    The data version parameter is a beta feature of Dagster 1.13, used on purpose and
    pinned by the version range; its warning would otherwise print on every deployment.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(
            outcome,
            data_version=dg.DataVersion(f"v{version}") if version else None,
            metadata=metadata,
        )
