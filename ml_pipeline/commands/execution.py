"""Run the pipeline once in this process, through Dagster: register landed files, ingest
(in worker processes when there are many), train, deploy; and roll back."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from ml_pipeline.commands.errors import cause_line
from ml_pipeline.commands.summary import ChampionSummary, RunSummary
from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.intake import IGNORED_WARNING
from ml_pipeline.core.deploy.deploy_folder import CURRENT_LINK, current_name
from ml_pipeline.core.deploy.switch import ApprovalError, RollbackOutcome, approve, rollback
from ml_pipeline.core.memory import arrow_on_system_heap, return_freed_memory
from ml_pipeline.core.monitor.retraining import Activity
from ml_pipeline.core.ownership import person
from ml_pipeline.core.triggers import reasons_in_words
from ml_pipeline.defs.jobs import INGEST_JOB, TRAINING_JOB
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline.runtime.decisions import decide_retraining, plan_landing

if TYPE_CHECKING:
    from ml_pipeline.core.deploy.deployment import DeploymentOutcome
    from ml_pipeline.core.model.challenger import TrainingOutcome
    from ml_pipeline.core.model.gate import ValidationOutcome

# The CLI prints its own summary, errors included; Dagster's step-by-step log (and the
# expected failure of the promotion gate when a champion is kept) stays in the run history.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _job(config: PipelineConfig, name: str) -> dg.JobDefinition:
    # Imported here: the definitions bring scikit-learn and every asset's imports, which
    # the main process of a parallel ingest never uses while its workers need the memory.
    from ml_pipeline.definitions import job_definitions

    return job_definitions(config).resolve_job_def(name)


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            blocked_by = evaluation.metadata.get(names.BLOCKED_BY)
            if not evaluation.passed and blocked_by is not None and blocked_by.value:
                return f"{evaluation.asset_key.to_user_string()} check failed: {blocked_by.value}"
        if event.is_step_failure and event.step_failure_data.error:
            chain, error = [], event.step_failure_data.error
            while error is not None:
                chain.append((error.cls_name, error.message))
                error = error.cause
            return cause_line(chain)
    return "run failed"


def ingest_landed_files(
    config: PipelineConfig, instance: dg.DagsterInstance, summary: RunSummary, reingest: bool
) -> None:
    files, plan = plan_landing(instance, config, reingest=reingest)
    summary.conflicts = plan.conflicts
    summary.forgotten = plan.forgotten
    if plan.new_partitions:
        instance.add_dynamic_partitions(landed_files.name, plan.new_partitions)
    to_run = {key for key, _run_key in plan.runs}
    summary.unchanged = [k for k in plan.digests if k not in to_run and k not in plan.forgotten]
    sizes = {landed.partition_key: landed.size for landed in files}
    keys = [key for key, _run_key in plan.runs]
    workers = ingest_workers(config.ingest.workers, [sizes.get(key, 0) for key in keys])
    for key, result in _ingest_runs(config, instance, keys, workers):
        if result.error is None:
            summary.ingested.append(key)
        else:
            summary.failed[key] = result.error
        if result.ignored:
            summary.ignored_columns[key] = result.ignored
        if result.warnings:
            summary.warnings[key] = result.warnings


# What an ingest run costs, to decide whether worker processes pay for their start: a
# small file's run takes about 0.7 s in a warm process, plus about 0.35 s per MB read
# (docs/benchmarks.md: the ingest profile, and the 10M-row end-to-end run); a spawned
# worker takes about 3.2 s to import and build the job before its first run.
RUN_SECONDS = 0.7
SECONDS_PER_MB = 0.35
WORKER_START_SECONDS = 3.2


def ingest_workers(configured: int, sizes: list[int]) -> int:
    """How many worker processes to ingest files of these sizes in (1: in this process).

    A worker is started only for at least twice its start-up in work: below that, the
    runs finish sooner one by one in a process that has already imported everything,
    and cost less CPU (a few small files, the common case of a scheduled run)."""
    work = sum(RUN_SECONDS + size / 1e6 * SECONDS_PER_MB for size in sizes)
    worth = int(work // (2 * WORKER_START_SECONDS)) if WORKER_START_SECONDS else len(sizes)
    return max(1, min(configured, len(sizes), worth))


@dataclass(frozen=True)
class IngestResult:
    """What one partition's ingest run tells the summary."""

    error: str | None  # its first error, or None when it succeeded
    ignored: list[str]  # landed columns the contract lacks
    warnings: list[str]  # what reading and cleaning the file changed or dropped


def _ingest_runs(
    config: PipelineConfig, instance: dg.DagsterInstance, keys: list[str], workers: int
) -> Iterator[tuple[str, IngestResult]]:
    """One ingest run per partition, each yielding its first error or None and the
    columns the contract left out, in key order."""
    # An in-memory instance cannot be shared with other processes.
    if workers <= 1 or instance.is_ephemeral:
        job = _job(config, INGEST_JOB)
        for key in keys:
            yield key, _ingest_one(job, instance, key)
        return
    # Spawned, not forked: a fork would share the parent's open sqlite connections.
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(config, instance.get_ref()),
    ) as pool:
        yield from zip(keys, pool.map(_ingest_in_worker, keys), strict=True)


def _ingest_one(job: dg.JobDefinition, instance: dg.DagsterInstance, key: str) -> IngestResult:
    result = job.execute_in_process(
        instance=instance,
        partition_key=key,
        raise_on_error=False,
        run_config=QUIET,
        tags={names.TRIGGER_TAG: names.TRIGGER_CLI},
    )
    return_freed_memory()

    def listed(asset: str, key: str) -> list[str]:
        found = []
        for materialization in result.asset_materializations_for_node(asset):
            value = materialization.metadata.get(key)
            found = list(value.value) if value is not None else []
        return found

    return IngestResult(
        error=None if result.success else _first_error(result),
        ignored=listed(names.RAW_SAMPLES, names.IGNORED_COLUMNS),
        warnings=[
            *(
                warning
                for warning in listed(names.RAW_SAMPLES, names.INTAKE_WARNINGS)
                if not warning.startswith(IGNORED_WARNING)
            ),
            *listed(names.CLEANED_DATA, names.CLEANING_NOTES),
        ],
    )


_worker: tuple[dg.JobDefinition, dg.DagsterInstance] | None = None


def _start_worker(config: PipelineConfig, instance_ref: object) -> None:
    """Each worker builds the job once and opens the caller's instance from its ref."""
    global _worker
    arrow_on_system_heap()
    job = _job(config, INGEST_JOB)
    _worker = (job, dg.DagsterInstance.from_ref(instance_ref))


def _ingest_in_worker(key: str) -> IngestResult:
    assert _worker is not None, "worker not started"
    return _ingest_one(*_worker, key)


def train_and_deploy(
    config: PipelineConfig, instance: dg.DagsterInstance, summary: RunSummary, promotion: str
) -> None:
    job = _job(config, TRAINING_JOB)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={
            **QUIET,
            "ops": {names.VALIDATION_METRICS: {"config": {"decision": promotion}}},
        },
        tags={names.TRIGGER_TAG: names.TRIGGER_CLI, names.STARTED_BY_TAG: person()},
    )
    if not result.success:
        summary.error = f"training run {result.run_id} failed: {_first_error(result)}"
        return
    training: TrainingOutcome = result.output_for_node(names.TRAINED_MODEL)
    validation: ValidationOutcome = result.output_for_node(names.VALIDATION_METRICS)
    deployment: DeploymentOutcome | None = (
        result.output_for_node(names.DEPLOYED_MODEL) if validation.decision.promote else None
    )
    summary.record_training(training, validation, deployment)
    link = config.deploy_dir / CURRENT_LINK
    summary.artifact_path = str(link) if link.exists() else None


def count_rows(config: PipelineConfig, summary: RunSummary) -> None:
    from ml_pipeline.core.data.warehouse import Warehouse

    warehouse = Warehouse(config.warehouse_dir)
    for table in (names.RAW_SAMPLES, names.CLEANED_DATA):
        summary.rows[table] = sum(
            warehouse.row_count(table, key) for key in warehouse.partitions(table)
        )


def _no_retraining_needed(
    config: PipelineConfig, instance: dg.DagsterInstance, summary: RunSummary
) -> str | None:
    """Why training can be skipped (the retrain sensor's own policy), or None to train,
    with the policy's reasons in ``summary``."""
    # The command holds the project: no run of its own is active to wait for.
    decision = decide_retraining(instance, config, Activity())
    if decision.reasons:
        summary.retrained_because = reasons_in_words(decision.trigger)
        return None
    if decision.evidence.hours_since_training is None:
        return None
    serving = current_name(config.deploy_dir)
    kept = f"champion {serving} kept" if serving else "no champion yet"
    return f"nothing new: {kept} ({decision.explanation}; --retrain trains anyway)"


def run_pipeline(
    config: PipelineConfig,
    instance: dg.DagsterInstance,
    reingest: bool = False,
    promotion: str = "auto",
    retrain: bool = False,
) -> RunSummary:
    """Ingest new or changed files, then train if the retraining policy (or ``retrain``)
    says so; ``promotion`` is auto, force or refuse."""
    summary = RunSummary()
    ingest_landed_files(config, instance, summary, reingest)
    count_rows(config, summary)
    if not summary.ingested and not summary.unchanged:
        summary.error = f"no landed file could be ingested from {config.dataset.landing_dir}"
        return summary
    if not retrain and promotion == "auto":
        summary.not_retrained = _no_retraining_needed(config, instance, summary)
        if summary.not_retrained:
            summary.champion = ChampionSummary.serving(mlflow_store(config).champion_scores())
            link = config.deploy_dir / CURRENT_LINK
            summary.artifact_path = str(link) if link.exists() else None
            return summary
    train_and_deploy(config, instance, summary, promotion)
    return summary


def roll_back(config: PipelineConfig, instance: dg.DagsterInstance) -> RollbackOutcome:
    """Roll the champion back and record it as a deployed_model materialization."""
    outcome = rollback(mlflow_store(config), config.deploy_dir, config.reference_path)
    reason = f"rolled back from version {outcome.from_version} (ml-pipeline rollback)"
    _record_switch(instance, "rollback", outcome, reason)
    return outcome


def approve_candidate(
    config: PipelineConfig, instance: dg.DagsterInstance, version: str
) -> RollbackOutcome:
    """Serve the candidate awaiting approval, recorded as a deployed_model materialization.

    With ``promotion.min_shadow_rows``, a candidate the service has not yet scored on that
    many rows in the shadow (over ``monitoring.labels_lookback_days``) is refused."""
    needed = config.promotion.min_shadow_rows
    if needed:
        seen = shadow_rows(config, version)
        if seen < needed:
            raise ApprovalError(
                f"version {version} has scored {seen} served row(s) in the shadow; "
                f"promotion.min_shadow_rows asks for {needed} before approval"
            )
    who = person()
    store = mlflow_store(config)
    outcome = approve(store, config.deploy_dir, version, who, config.reference_path)
    _record_switch(instance, "approval", outcome, f"version {version} approved by {who}")
    return outcome


def shadow_rows(config: PipelineConfig, version: str) -> int:
    """Rows ``version`` scored in the shadow over the labels lookback."""
    import datetime as dt

    from ml_pipeline.core.monitor.prediction_log import SHADOW_ROLE, read_prediction_log

    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=config.monitoring.labels_lookback_days)
    log = read_prediction_log(config.predictions_dir, start, end)
    mine = (log["role"] == SHADOW_ROLE) & (log["model_version"] == version) & (log["status"] == 200)
    return int(log.loc[mine, "rows"].sum())


def _record_switch(
    instance: dg.DagsterInstance, what: str, outcome: RollbackOutcome, reason: str
) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=names.DEPLOYED_MODEL,
            description=what,
            # As a training's deployment does: the serving champion is the data version.
            tags={names.DATA_VERSION_TAG: f"v{outcome.to_version}"},
            metadata={
                "champion_version": outcome.to_version,
                "replaced_version": outcome.from_version,
                "artifact_path": dg.MetadataValue.path(str(outcome.artifact_path)),
                "reason": reason,
            },
        )
    )
