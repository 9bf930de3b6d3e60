"""Notifications from Dagster's own run-status sensors: what a training decided, a
training that failed, a landed file quarantined. Assets never send anything."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.landing import retry_attempt
from ml_pipeline.core.notify import Notice, send
from ml_pipeline.defs.jobs import ingest_job, training_job
from ml_pipeline.runtime.history import iter_materializations, latest_record


def _deployment_metadata(instance: dg.DagsterInstance, run_id: str) -> dict[str, object]:
    """What deployed_model recorded in run ``run_id`` (empty when it did not materialize)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        materialization = record.asset_materialization
        if materialization and materialization.asset_key == dg.AssetKey(names.DEPLOYED_MODEL):
            return {key: value.value for key, value in materialization.metadata.items()}
    return {}


def decision_notice(metadata: dict[str, object], run_id: str) -> Notice | None:
    """A training run's outcome as a notice: promoted, awaiting approval, or kept."""
    if not metadata:
        return None
    fields = {"run": run_id, "champion": str(metadata.get("champion_version", "none"))}
    awaiting = metadata.get("awaiting_approval")
    if awaiting and awaiting != "none":
        return Notice(
            "awaiting_approval",
            f"version {awaiting} awaits approval",
            str(metadata.get("reason", "")),
            {**fields, "candidate": str(awaiting)},
        )
    if metadata.get("promoted"):
        return Notice(
            "promoted",
            f"version {metadata.get('champion_version')} is the new champion",
            str(metadata.get("reason", "")),
            fields,
        )
    return Notice("kept", "champion kept", str(metadata.get("reason", "")), fields)


def failure_notice(
    job_name: str, run: dg.DagsterRun, message: str, tries: int = 1, quarantined: bool = False
) -> Notice | None:
    """A failed run as a notice: a training failure, a landed file quarantined, or a
    file whose last try of ``tries`` failed for an outage. An outage with tries left is
    not news: the landing sensor tries the file again."""
    if job_name == training_job.name:
        return Notice("training_failed", "training failed", message, {"run": run.run_id})
    partition = run.tags.get(names.PARTITION_TAG, "")
    fields = {"run": run.run_id, "partition": partition}
    if run.tags.get(names.OUTAGE_TAG) == "true":
        if retry_attempt(run.tags.get(names.RETRY_TAG)) < tries:
            return None
        return Notice(
            "file_given_up",
            f"landed file {partition} given up after {tries} tries",
            f"{message} (ml-pipeline backfill --partitions {partition} tries it again)",
            fields,
        )
    if not quarantined:
        return None
    return Notice("file_quarantined", f"landed file {partition} quarantined", message, fields)


def drift_notice(
    partition: str | None, metadata: dict[str, object], threshold: float | None
) -> Notice | None:
    """A cleaned partition whose drift score passed ``retraining.drift_threshold``."""
    score = metadata.get(names.DRIFT_SCORE)
    if threshold is None or not isinstance(score, int | float) or score <= threshold:
        return None
    return Notice(
        "drift",
        f"partition {partition} drifted: {score:.3f} above {threshold:g}",
        "its inputs moved away from the champion's training reference (PSI)",
        {"partition": partition or "", "drift_score": f"{score:.4f}"},
    )


def decay_notice(partition: str | None, metadata: dict[str, object]) -> Notice | None:
    """A champion_performance measurement (of a partition) or a prediction_monitoring
    run (on labelled served rows) that found the champion decayed."""
    share = metadata.get(names.DECAY)
    if not isinstance(share, int | float):
        return None
    version = metadata.get(names.SCORED_BY)
    return Notice(
        "decay",
        f"champion v{version} decayed: {share:+.1%} worse than at validation",
        str(metadata.get("decay_check") or metadata.get("served_decay_check") or ""),
        {"partition": partition or "", "model_version": str(version), "decay": f"{share:.4f}"},
    )


def skew_notice(_partition: str | None, metadata: dict[str, object]) -> Notice | None:
    """A prediction_monitoring run that found the service's features differing from
    training's for the same served rows."""
    skewed = metadata.get(names.SKEWED_FEATURES)
    if not skewed:
        return None
    version = metadata.get(names.SCORED_BY)
    return Notice(
        "skew",
        f"champion v{version}: serving and training compute different features",
        str(metadata.get("feature_skew", "")),
        {"model_version": str(version), "features": str(skewed)},
    )


def orphan_notice(lines: list[str]) -> Notice | None:
    """Runs whose process died, ended by a sensor."""
    if not lines:
        return None
    return Notice("orphan_ended", f"{len(lines)} orphaned run(s) ended", "\n".join(lines))


def _step_message(event: dg.DagsterEvent) -> str | None:
    """A failed step's own words: a Failure's description, or the error's first line."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is not None:
        return data.error.message.strip().splitlines()[0]
    return None


def _quarantined(event: dg.DagsterEvent) -> bool:
    """Whether the failed step quarantined its landed file (the ingest says where)."""
    failure = event.step_failure_data.user_failure_data
    return failure is not None and names.QUARANTINED_TO in (failure.metadata or {})


def send_notice(context, config: PipelineConfig, notice: Notice | None) -> None:
    if notice is None:
        return
    for problem in send(config.notify, notice, config.deliveries_path):
        context.log.warning(problem)


def build_notification_sensors(config: PipelineConfig) -> list[dg.SensorDefinition]:
    """None without a ``notify`` section: no sensor runs for nobody."""
    if not config.notify:
        return []

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[training_job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Tells the notify webhooks what each training decided.",
    )
    def training_decision_notifier(context: dg.RunStatusSensorContext) -> None:
        metadata = _deployment_metadata(context.instance, context.dagster_run.run_id)
        send_notice(context, config, decision_notice(metadata, context.dagster_run.run_id))

    @dg.run_failure_sensor(
        monitored_jobs=[training_job, ingest_job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Tells the notify webhooks of a failed training or a quarantined file.",
    )
    def failure_notifier(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        steps = context.get_step_failure_events()
        said = [_step_message(event) for event in steps]
        message = "; ".join(m for m in said if m) or context.failure_event.message or "failed"
        tries = config.sensor.ingest_retries + 1
        quarantined = any(_quarantined(event) for event in steps)
        notice = failure_notice(run.job_name, run, message, tries, quarantined)
        send_notice(context, config, notice)

    threshold = config.retraining.drift_threshold
    drift_notifier = _materialization_notifier(
        config,
        "drift_notifier",
        names.CLEANED_DATA,
        lambda partition, metadata: drift_notice(partition, metadata, threshold),
        "Tells the notify webhooks of a partition drifting past the threshold.",
    )
    decay_notifier = _materialization_notifier(
        config,
        "decay_notifier",
        names.CHAMPION_PERFORMANCE,
        decay_notice,
        "Tells the notify webhooks when the champion's measured metric decays.",
    )
    served_decay_notifier = _materialization_notifier(
        config,
        "served_decay_notifier",
        names.PREDICTION_MONITORING,
        decay_notice,
        "Tells the notify webhooks when the champion decays on labelled served rows.",
    )
    skew_notifier = _materialization_notifier(
        config,
        "skew_notifier",
        names.PREDICTION_MONITORING,
        skew_notice,
        "Tells the notify webhooks when serving and training compute different features.",
    )
    return [
        training_decision_notifier,
        failure_notifier,
        drift_notifier,
        decay_notifier,
        served_decay_notifier,
        skew_notifier,
    ]


def _materialization_notifier(
    config: PipelineConfig,
    name: str,
    asset: str,
    notice_of: Callable[[str | None, dict[str, object]], Notice | None],
    description: str,
) -> dg.SensorDefinition:
    """A sensor that reads every materialization of ``asset`` since its last tick, not
    only the newest (an asset_sensor sees one per tick, and a wave lands many partitions
    at once), and sends what ``notice_of`` makes of each. The first tick starts from now
    rather than telling the whole history."""

    @dg.sensor(
        name=name,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=config.sensor.interval_seconds,
        description=description,
    )
    def notifier(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        key = dg.AssetKey(asset)
        if context.cursor is None:
            latest = latest_record(context.instance, key)
            context.update_cursor(str(latest.storage_id if latest else 0))
            return dg.SkipReason(f"watching {asset} from now on")
        after = int(context.cursor)
        for record in iter_materializations(context.instance, key, after):
            materialization = record.asset_materialization
            metadata = {k: v.value for k, v in materialization.metadata.items()}
            send_notice(context, config, notice_of(materialization.partition, metadata))
            after = record.storage_id
        context.update_cursor(str(after))
        return dg.SkipReason(f"read {asset} up to storage id {after}")

    return notifier
