"""Notifications from Dagster's own run-status sensors: what a training decided, a
training that failed, a landed file quarantined. Assets never send anything."""

from __future__ import annotations

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.notify import Notice, send
from ml_pipeline.defs.jobs import ingest_job, training_job


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


def failure_notice(job_name: str, run: dg.DagsterRun, message: str) -> Notice | None:
    """A failed run as a notice: a training failure, or a landed file quarantined.
    Outages are left out: the landing sensor tries the file again."""
    if job_name == training_job.name:
        return Notice("training_failed", "training failed", message, {"run": run.run_id})
    if run.tags.get(names.OUTAGE_TAG) == "true" or "quarantined to" not in message:
        return None
    partition = run.tags.get(names.PARTITION_TAG, "")
    return Notice(
        "file_quarantined",
        f"landed file {partition} quarantined",
        message,
        {"run": run.run_id, "partition": partition},
    )


def _step_message(event: dg.DagsterEvent) -> str | None:
    """A failed step's own words: a Failure's description, or the error's first line."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is not None:
        return data.error.message.strip().splitlines()[0]
    return None


def _send(context, config: PipelineConfig, notice: Notice | None) -> None:
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
        _send(context, config, decision_notice(metadata, context.dagster_run.run_id))

    @dg.run_failure_sensor(
        monitored_jobs=[training_job, ingest_job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Tells the notify webhooks of a failed training or a quarantined file.",
    )
    def failure_notifier(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        said = [_step_message(event) for event in context.get_step_failure_events()]
        message = "; ".join(m for m in said if m) or context.failure_event.message or "failed"
        _send(context, config, failure_notice(run.job_name, run, message))

    return [training_decision_notifier, failure_notifier]
