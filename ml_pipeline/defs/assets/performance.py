"""The champion measured on each landed partition before any training reads it."""

import datetime as dt
import functools

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import images, names
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.deploy.batch_scoring import load_version
from ml_pipeline.core.deploy.deploy_folder import current_name
from ml_pipeline.core.fileio import atomic_write_text
from ml_pipeline.core.model.blame import content_digest
from ml_pipeline.core.monitor import performance
from ml_pipeline.core.tracking import MlflowStore
from ml_pipeline.defs.assets.monitoring import MONITORING_GROUP
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.defs.resources import MlflowResource, PipelineSettings, WarehouseResource
from ml_pipeline.defs.retries import retry_only_outages
from ml_pipeline.runtime.history import latest_scored_by, performance_points

NO_CHAMPION = "no champion yet: the first training has nothing to measure"


@functools.lru_cache(maxsize=4)
def _trained_on(store: MlflowStore, version: str) -> dict[str, str]:
    return store.trained_on(version)  # a version's training never changes


def _unmeasured(why: str, version: str | None = None) -> dg.MaterializeResult:
    """A routine outcome (no champion yet, rows it trained on): said, not failed."""
    metadata: dict[str, object] = {"measured": False, "why_not": why}
    if version is not None:
        metadata[names.SCORED_BY] = version
    return dg.MaterializeResult(metadata=metadata)


def _decay_metadata(
    context: dg.AssetExecutionContext,
    config: PipelineConfig,
    store: MlflowStore,
    tables: Warehouse,
    version: str,
    scored: list,
) -> dict[str, object]:
    """Whether ``version`` has decayed over its latest partitions, this one included."""
    policy, metric = config.retraining, config.promotion_metric
    if policy.decay_margin is None:
        return {"decay_check": "off (retraining.decay_margin is null)"}
    validation = store.holdout_score(version, metric)
    if validation is None:
        return {"decay_check": f"v{version} logged no holdout {metric} to compare with"}
    keys = latest_scored_by(
        context.instance, version, policy.decay_window - 1, context.partition_key
    )
    frames = scored + [
        tables.read(names.CHAMPION_PERFORMANCE, key)
        for key in keys
        if tables.exists(names.CHAMPION_PERFORMANCE, key)
    ]
    rows = sum(len(frame) for frame in frames)
    if rows < policy.decay_min_rows:
        return {"decay_check": f"{rows} rows scored, fewer than retraining.decay_min_rows"}
    promotion = config.promotion
    decay = performance.assess_decay(
        frames,
        metric,
        validation,
        policy.decay_margin,
        promotion.confidence,
        promotion.bootstrap_rounds,
        config.training.random_seed,
    )
    metadata: dict[str, object] = {"decay_check": decay.sentence()}
    if decay.decayed:
        metadata[names.DECAY] = round(decay.worse_by, 4)
    return metadata


def _history(context: dg.AssetExecutionContext, config: PipelineConfig, point: tuple) -> dict:
    metric = config.promotion_metric
    points = [*performance_points(context.instance, metric), point]
    plot = performance.history_plot(points, metric)
    report = atomic_write_text(
        f"<html><body><h1>Champion {metric} on each new partition</h1>"
        f"{images.html_images({metric: plot})}</body></html>",
        config.reports_dir / "performance.html",
    )
    return {
        "over_time": dg.MetadataValue.md(images.markdown_images({metric: plot})),
        "report": dg.MetadataValue.path(str(report)),
    }


@dg.asset(
    partitions_def=landed_files,
    deps=[names.FEATURES],
    group_name=MONITORING_GROUP,
    description=(
        "The champion of the moment scored on one landed partition's labelled rows, "
        "before any training reads them: the honest live figure (prequential "
        "evaluation). A partition the version trained on is not measured. Records the "
        "metrics, rows, version and time, whether the champion's metric over its latest "
        "partitions decayed beyond retraining.decay_margin and the noise, and a plot over "
        f"time per version. The run tag `{names.MODEL_VERSION_TAG}` measures another "
        "registered version instead (a backfill re-scores history with it)."
    ),
    kinds={"scikitlearn", "mlflow"},
)
@retry_only_outages
def champion_performance(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    config, key = settings.load(), context.partition_key
    store, tables = mlflow.get(), warehouse.get()
    chosen = version = context.run.tags.get(names.MODEL_VERSION_TAG)
    if version is None and current_name(config.deploy_dir) is None:
        # Asked of the deploy folder first: every file of a first wave would otherwise
        # pay MLflow's import (seconds) to hear that there is no champion.
        return _unmeasured(NO_CHAMPION)
    if version is None:
        champion = store.champion()
        if champion is None:
            return _unmeasured(NO_CHAMPION)
        version = str(champion.version)
    if _trained_on(store, version).get(key) == content_digest(tables.footer(names.FEATURES, key)):
        return _unmeasured(f"v{version} trained on these rows: a score would flatter it", version)
    dataset = config.dataset
    model = load_version(store, version)
    try:
        score = performance.score_partition(
            model, tables.read(names.FEATURES, key), dataset.target, dataset.task
        )
    except performance.NotMeasured as error:
        return _unmeasured(str(error), version)
    tables.write(names.CHAMPION_PERFORMANCE, key, score.scored)
    now = dt.datetime.now(dt.UTC)
    metric = config.promotion_metric
    metadata: dict[str, object] = {
        "measured": True,
        names.SCORED_BY: version,
        "dagster/row_count": score.rows,
        **{name: round(value, 6) for name, value in score.metrics.items()},
        "scored_at": now.isoformat(timespec="seconds"),
    }
    if chosen is None:
        metadata.update(_decay_metadata(context, config, store, tables, version, [score.scored]))
    else:
        # A re-measure of history with a chosen version must not start a retraining.
        metadata["decay_check"] = f"not judged: v{version} measured on request"
    if metric in score.metrics:
        point = (now.timestamp(), version, score.metrics[metric])
        metadata.update(_history(context, config, point))
    return dg.MaterializeResult(metadata=metadata)
