"""``ml-pipeline forget PARTITION``: take one landed file's partition out of the history."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.landing import content_digest, find_landed_file, remember_forgotten
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.names import PARTITION_TAG
from ml_pipeline.defs.jobs import TRAINING_JOB
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.runtime.orphans import ACTIVE_STATUSES


class ForgetRefused(RuntimeError):
    """The partition cannot be forgotten now; the message says why."""


@dataclass(frozen=True)
class Forgotten:
    partition: str
    tables: list[str]
    landed_file: Path | None


def _runs_using(instance: dg.DagsterInstance, key: str) -> list[dg.DagsterRun]:
    """Active runs that read or write ``key``: its own ingest runs, and any training."""
    own = instance.get_runs(dg.RunsFilter(statuses=ACTIVE_STATUSES, tags={PARTITION_TAG: key}))
    training = instance.get_runs(dg.RunsFilter(statuses=ACTIVE_STATUSES, job_name=TRAINING_JOB))
    return [*own, *training]


def forget_partition(config: PipelineConfig, instance: dg.DagsterInstance, key: str) -> Forgotten:
    """Delete the partition, its warehouse files and its ingest record.

    The landed file is never touched: it stays in the landing folder (often shared) and
    is recorded as forgotten, so neither the sensor nor ``run`` ingests it again unless
    new content is delivered under its name.
    """
    registered = instance.get_dynamic_partitions(landed_files.name)
    if key not in registered:
        raise ForgetRefused(f"partition {key!r} is not registered ({len(registered)} are)")
    busy = _runs_using(instance, key)
    if busy:
        run = busy[0]
        raise ForgetRefused(
            f"partition {key!r} is in use by run {run.run_id} ({run.job_name}, "
            f"{run.status.value}); try again when it has finished"
        )
    landed: Path | None
    try:
        landed = find_landed_file(config.dataset.landing_dir, config.dataset.patterns, key)
    except FileNotFoundError:
        landed = None  # already moved away (quarantined, deleted): nothing to set aside
    if landed is not None:
        remember_forgotten(config.forgotten_path, key, landed.name, content_digest(landed))
    warehouse = Warehouse(config.warehouse_dir)
    removed = [table for table in names.INGEST_ASSETS if warehouse.drop(table, key)]
    warehouse.drop(names.FIT_FAULTS, key)  # a blame belongs to the content that is forgotten
    # Its ingest record is its runs, one partition each: deleting them removes their
    # materializations and check results (sqlite event storage cannot wipe partitions).
    for run in instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: key})):
        instance.delete_run(run.run_id)
    instance.delete_dynamic_partition(landed_files.name, key)
    return Forgotten(partition=key, tables=removed, landed_file=landed)
