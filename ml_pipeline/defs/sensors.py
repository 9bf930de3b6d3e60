"""Sensors: landed files become partitions; a finished ingest wave triggers training (at
the wave's last successful run, and on the retrain sensor's ticks); files in the scoring
folder become partitions of batch_predictions."""

import json
import time

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.config_faults import ingest_blocker
from ml_pipeline.core.data.contract import resolve_contract
from ml_pipeline.core.data.landing import (
    IngestPlan,
    plan_ingest,
    plan_retries,
    scan_landing,
)
from ml_pipeline.core.monitor.retraining import Activity
from ml_pipeline.core.triggers import why_trained
from ml_pipeline.defs.jobs import INGEST_JOB, ingest_job, scoring_job, training_job
from ml_pipeline.defs.notifications import orphan_notice, send_notice
from ml_pipeline.defs.partitions import landed_files, scoring_files
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline.runtime.decisions import decide_retraining, plan_landing
from ml_pipeline.runtime.history import ingested_digests, outage_failures
from ml_pipeline.runtime.orphans import end_orphans, living_runs


def _end_orphans(context: dg.SensorEvaluationContext, config: PipelineConfig) -> None:
    """A run whose process died would otherwise count as in progress forever."""
    store = mlflow_store(config)
    lines = end_orphans(context.instance, store).lines()
    for line in lines:
        context.log.warning(line)
    send_notice(context, config, orphan_notice(lines))


def _file_runs(
    plan: IngestPlan,
    partitions: dg.DynamicPartitionsDefinition,
    trigger: str,
    retries: list[dg.RunRequest] | None = None,
) -> dg.SensorResult:
    """One run per new file content (and the ``retries``), its partition added first; the
    cursor keeps digests."""
    return dg.SensorResult(
        run_requests=[
            *(
                dg.RunRequest(run_key=run_key, partition_key=key, tags={names.TRIGGER_TAG: trigger})
                for key, run_key in plan.runs
            ),
            *(retries or []),
        ],
        dynamic_partitions_requests=(
            [partitions.build_add_request(plan.new_partitions)] if plan.new_partitions else []
        ),
        cursor=json.dumps(plan.digests, sort_keys=True),
    )


def build_landing_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    dataset = config.dataset

    @dg.sensor(
        job=ingest_job,
        minimum_interval_seconds=config.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Adds a partition for each file matching {dataset.patterns} in the landing "
        "folder and ingests each distinct file content once.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        _end_orphans(context, config)
        cache = {k: tuple(v) for k, v in json.loads(context.cursor or "{}").items()}
        files, plan = plan_landing(context.instance, config, cache)
        for conflict in plan.conflicts:
            context.log.warning(f"several landed files map to one partition, skipped: {conflict}")
        if plan.runs or not dataset.landing_dir.is_dir():
            contract = resolve_contract(config.contract_path, dataset)
            blocker = ingest_blocker(
                config.dataset, config.cleaning, contract, [f.path for f in files]
            )
            if blocker:
                return dg.SkipReason(f"config error, nothing ingested: {blocker}")
        retries = _retries(context, config, plan)
        return _file_runs(plan, landed_files, names.TRIGGER_LANDED_FILE, retries)

    return landing_sensor


def _retries(
    context: dg.SensorEvaluationContext, config: PipelineConfig, plan: IngestPlan
) -> list[dg.RunRequest]:
    """Files whose ingest failed for an outage, tried again on their backoff schedule;
    each run's retry tag says which try and why."""
    failures = outage_failures(context.instance, INGEST_JOB)
    if not failures:
        return []
    keys = [f.partition_key for f in failures]
    current = {key: plan.digests[key][2] for key in keys if key in plan.digests}
    done = ingested_digests(context.instance, keys)
    return [
        dg.RunRequest(
            run_key=run_key,
            partition_key=key,
            tags={names.TRIGGER_TAG: names.TRIGGER_LANDED_FILE, names.RETRY_TAG: note},
        )
        for key, run_key, note in plan_retries(
            failures,
            current,
            done,
            time.time(),
            config.sensor.retry_after_seconds,
            config.sensor.ingest_retries,
        )
    ]


def _activity(instance: dg.DagsterInstance) -> Activity:
    # Backfill filters are not exported from dagster's public namespace in 1.13.
    from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus

    running = [BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING]
    return Activity(
        ingest_runs=living_runs(instance, INGEST_JOB),
        training_runs=living_runs(instance, training_job.name),
        backfills=instance.get_backfills_count(filters=BulkActionsFilter(statuses=running)),
    )


def _retrain_request(
    context: dg.SensorEvaluationContext | dg.RunStatusSensorContext, config: PipelineConfig
) -> dg.SensorResult | dg.SkipReason:
    """One training run when the policy calls for it; the same decision for both sensors."""
    decision = decide_retraining(context.instance, config, _activity(context.instance))
    if not decision.reasons:
        return dg.SkipReason(decision.explanation)
    # The tick's log in the UI says why; the run's tag and trained_model's metadata too.
    context.log.info(f"{decision.explanation} ({why_trained(decision.trigger)})")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=decision.run_key, tags={names.TRIGGER_TAG: decision.trigger})
        ]
    )


def build_retrain_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    policy = config.retraining

    @dg.sensor(
        job=training_job,
        minimum_interval_seconds=config.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests one training run when a finished wave brings at least "
            f"{policy.min_new_partitions} new partition(s), when new data drifts beyond "
            f"{policy.drift_threshold}, or when the last training is older than "
            f"{policy.max_model_age_hours} hours; never while ingest, training or a backfill "
            "runs. wave_end_sensor usually starts a wave's training first; this one also "
            "catches drift, age and waves that end in a failed file."
        ),
    )
    def retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        _end_orphans(context, config)
        return _retrain_request(context, config)

    return retrain_sensor


def due_every(seconds: int) -> int:
    """The minimum interval under which Dagster evaluates a sensor every ``seconds``
    (at 5 s, the daemon's loop: on every loop).

    The daemon looks at its sensors once per 5 s loop and skips one whose last tick
    started less than its minimum interval ago. A tick starts a moment into its loop, so
    a sensor due every 5 s was skipped on about half of the loops and ran every 10 s
    (measured: 4 or 9 s from an ingest run's end to the wave-end sensor's request).
    """
    return max(seconds - 1, 1)


def build_wave_end_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    """Training starts when the last ingest run of a wave succeeds, not a tick later."""

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[ingest_job],
        request_job=training_job,
        # Only this sensor, whose point is to react at once: the landing and scoring
        # sensors scan folders, and ticking those on every loop cost idle CPU.
        minimum_interval_seconds=due_every(config.sensor.wave_end_interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="When an ingest run succeeds and no other ingest run is left in its wave, "
        "applies the retraining policy at once (the retrain sensor's decision, without "
        "waiting for its next tick).",
    )
    def wave_end_sensor(context: dg.RunStatusSensorContext) -> dg.SensorResult | None:
        # None moves on to the next finished run in the same tick; a SkipReason would
        # end the tick there and leave a wave's other runs for later ticks.
        decision = _retrain_request(context, config)
        return decision if isinstance(decision, dg.SensorResult) else None

    return wave_end_sensor


def build_scoring_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    @dg.sensor(
        job=scoring_job,
        minimum_interval_seconds=config.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Adds a batch_predictions partition for each file matching "
            f"{config.dataset.patterns} in the scoring folder and scores each distinct "
            "file content once, with the champion."
        ),
    )
    def scoring_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cache = {k: tuple(v) for k, v in json.loads(context.cursor or "{}").items()}
        files = scan_landing(
            config.scoring_dir, config.dataset.patterns, config.sensor.settle_seconds
        )
        known = set(context.instance.get_dynamic_partitions(scoring_files.name))
        plan = plan_ingest(files, known, cache)
        for conflict in plan.conflicts:
            context.log.warning(f"several scoring files map to one partition, skipped: {conflict}")
        return _file_runs(plan, scoring_files, names.TRIGGER_SCORING_FILE)

    return scoring_sensor
