"""Sensors: landed files become partitions; a finished ingest wave triggers training."""

import json

import dagster as dg

from ml_pipeline.assets.ingest import features, landed_files
from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.landing import plan_ingest, scan_landing
from ml_pipeline.core.retraining import retrain_reason
from ml_pipeline.history import ingested_digests, iter_materializations, latest_storage_id
from ml_pipeline.jobs import INGEST_JOB, ingest_job, training_job

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _active_runs(instance: dg.DagsterInstance, job_name: str) -> int:
    return instance.get_runs_count(dg.RunsFilter(job_name=job_name, statuses=ACTIVE_STATUSES))


def build_landing_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    dataset = config.dataset

    @dg.sensor(
        job=ingest_job,
        minimum_interval_seconds=config.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Adds a partition for each file matching {dataset.patterns} in the landing "
        "folder and ingests each distinct file content once.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cache = {k: tuple(v) for k, v in json.loads(context.cursor or "{}").items()}
        files = scan_landing(dataset.landing_dir, dataset.patterns, config.sensor.settle_seconds)
        known = set(context.instance.get_dynamic_partitions(landed_files.name))
        # Runs started elsewhere (CLI, UI, backfills) are in the history, not the cursor.
        unseen = any(landed.partition_key not in cache for landed in files)
        plan = plan_ingest(
            files, known, cache, ingested_digests(context.instance) if unseen else {}
        )
        for conflict in plan.conflicts:
            context.log.warning(f"several landed files map to one partition, skipped: {conflict}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key, partition_key=key, tags={"ml_pipeline/trigger": "landed_file"}
                )
                for key, run_key in plan.runs
            ],
            dynamic_partitions_requests=(
                [landed_files.build_add_request(plan.new_partitions)] if plan.new_partitions else []
            ),
            cursor=json.dumps(plan.digests, sort_keys=True),
        )

    return landing_sensor


def build_retrain_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    @dg.sensor(
        job=training_job,
        minimum_interval_seconds=config.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests one training run once a wave of new feature partitions has "
        "finished ingesting.",
    )
    def retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        instance = context.instance
        after = latest_storage_id(instance, dg.AssetKey("trained_model"))
        records = list(iter_materializations(instance, features.key, after))
        new_partitions = {record.partition_key for record in records}
        reason = retrain_reason(
            len(new_partitions),
            _active_runs(instance, INGEST_JOB),
            _active_runs(instance, training_job.name),
            config.retraining.min_new_partitions,
        )
        if reason is None:
            return dg.SkipReason(f"{len(new_partitions)} new partitions; no retraining now")
        newest = max(record.storage_id for record in records)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=f"wave-{newest}", tags={"ml_pipeline/trigger": reason})
            ]
        )

    return retrain_sensor
