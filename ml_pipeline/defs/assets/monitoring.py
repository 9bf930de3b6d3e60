"""Monitoring of the scoring service, from its prediction log and the late labels."""

import datetime as dt
import json

import dagster as dg
import pandas as pd

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names, storage
from ml_pipeline.core.deploy.deploy_folder import (
    CURRENT_LINK,
    DeployFolderError,
    current_name,
    fetch_current,
)
from ml_pipeline.core.monitor.live import collect_labels, label_files, label_id_column
from ml_pipeline.core.monitor.monitoring import summarize
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.core.monitor.reference import load_reference
from ml_pipeline.core.monitor.served import DecayRule, ServedQuality, served_quality
from ml_pipeline.core.monitor.skew import served_skew
from ml_pipeline.defs.assets.metadata import drift_table, markdown_table
from ml_pipeline.defs.resources import PipelineSettings
from ml_pipeline.defs.retries import retry_only_outages
from ml_pipeline.runtime.history import latest_record

MONITORING_GROUP = "monitoring"


def deployed_card(config: PipelineConfig) -> dict[str, object]:
    """The model card of the version ``current`` leads to; empty before any deployment."""
    try:
        name = current_name(config.deploy_dir, CURRENT_LINK)
    except DeployFolderError:
        return {}
    text = storage.read_text(config.deploy_dir / name / "model_card.json") if name else None
    try:
        found = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}  # an unreadable card: served rows are still reported, decay is not judged
    return found if isinstance(found, dict) else {}


def _served_quality(
    config: PipelineConfig, log: pd.DataFrame, instance: dg.DagsterInstance
) -> ServedQuality:
    """``log`` covers the labels lookback."""
    monitoring, dataset = config.monitoring, config.dataset
    labels = collect_labels(
        label_files(config.labels_dir),
        label_id_column(dataset.id_columns),
        dataset.target,
        dataset.task,
    )
    card = deployed_card(config)
    metric = config.modeling.metric
    champion = str(card["version"]) if card.get("version") is not None else None
    validation = (card.get("holdout_metrics") or {}).get(metric)
    rule = DecayRule(
        metric,
        config.retraining.decay_margin,
        config.retraining.decay_min_rows,
        config.promotion.confidence,
        config.promotion.bootstrap_rounds,
        config.training.random_seed,
    )
    return served_quality(
        log,
        labels,
        dataset.task,
        champion,
        float(validation) if isinstance(validation, int | float) else None,
        rule,
        monitoring.shadow_agreement_tolerance,
        _last_training(instance),
    )


def _last_training(instance: dg.DagsterInstance) -> dt.datetime | None:
    last = latest_record(instance, dg.AssetKey(names.TRAINED_MODEL))
    return dt.datetime.fromtimestamp(last.timestamp, dt.UTC) if last is not None else None


@dg.asset(
    # What the champion's service saw, against the champion's training reference.
    deps=[names.DEPLOYED_MODEL],
    group_name=MONITORING_GROUP,
    description=(
        "Requests, rows, errors and latency of the scoring service over the configured "
        "window, and the drift of the inputs it scored against the champion's training "
        "reference (PSI per column). Read from the prediction log under the data folder. "
        "Late labels in the labels folder are joined to the served rows by id: each "
        "version's live metric with its interval, the champion's decay on them, and a "
        "shadow version's agreement with the champion."
    ),
    kinds={"pandas"},
)
@retry_only_outages
def prediction_monitoring(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    config = settings.load()
    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(hours=config.monitoring.window_hours)
    # One read covers both the window and the labels lookback.
    lookback = end - dt.timedelta(days=config.monitoring.labels_lookback_days)
    served = read_prediction_log(config.predictions_dir, min(start, lookback), end)
    log = served[served["time"] >= pd.Timestamp(start)].reset_index(drop=True)
    reference = load_reference(config.reference_path)
    report = summarize(log, reference, start, end, config.monitoring.drift_sample_rows)
    hours = report.by_hour.assign(hour=report.by_hour["hour"].astype(str))
    quality = _served_quality(
        config, served[served["time"] >= pd.Timestamp(lookback)], context.instance
    )
    metadata: dict[str, object] = {
        "window": f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        **report.figures(),
        "requests_by_model_version": markdown_table(
            [{"version": v, "scored_requests": n} for v, n in report.by_version.items()]
        ),
        "volume_by_hour": markdown_table(hours.round(2).to_dict("records")),
        **quality.figures(),
        "live_metrics_by_version": markdown_table([score.as_row() for score in quality.scores]),
    }
    if quality.decay is not None and quality.decay.decayed:
        # Read by the retraining policy as the champion's performance decay is.
        metadata[names.DECAY] = round(quality.decay.worse_by, 4)
        metadata[names.SCORED_BY] = quality.champion
    if report.drift is not None:
        metadata["input_drift_by_column"] = drift_table(report.drift)
    metadata.update(_skew_metadata(config, log, quality.champion))
    return dg.MaterializeResult(metadata=metadata)


def _skew_metadata(
    config: PipelineConfig, log: pd.DataFrame, champion: str | None
) -> dict[str, object]:
    if champion is None:
        return {"feature_skew": "not measured: no champion is deployed"}

    def load_champion():
        from ml_pipeline.core.tracking import load_sklearn_model

        name = current_name(config.deploy_dir, CURRENT_LINK)
        if storage.is_remote(config.deploy_dir):
            local = fetch_current(config.deploy_dir, config.model_cache_dir, CURRENT_LINK)
        else:
            local = config.deploy_dir / name
        return load_sklearn_model(str(local))

    found = served_skew(log, champion, load_champion, config.monitoring.skew_sample_rows)
    if isinstance(found, str):
        return {"feature_skew": found}
    metadata: dict[str, object] = {
        "feature_skew": found.sentence(),
        "feature_skew_by_column": markdown_table([c.as_row() for c in found.columns]),
    }
    if found.skewed:
        metadata[names.SKEWED_FEATURES] = ", ".join(found.skewed)
        metadata[names.SCORED_BY] = champion
    return metadata
