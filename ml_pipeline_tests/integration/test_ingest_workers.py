"""Ingest runs spread over worker processes: each file its own run, in another process,
with a broken file failing alone."""

import os

import dagster as dg
import pytest

from ml_pipeline.commands import execution
from ml_pipeline.commands.summary import RunSummary
from ml_pipeline.core import names
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.ownership import Owner
from ml_pipeline.runtime.instance import project_instance

pytestmark = pytest.mark.slow


def test_files_ingested_in_workers_each_in_its_own_run(bike_config, monkeypatch) -> None:
    config = bike_config
    write_demo_data(
        DemoSpec(batches=4, rows_per_batch=48), config.dataset.landing_dir, config.data_dir / "t"
    )
    (config.dataset.landing_dir / "broken.csv").write_bytes(b"")
    # Small files are not worth a worker's start; pretend it costs nothing.
    monkeypatch.setattr(execution, "WORKER_START_SECONDS", 0.0)
    assert execution.ingest_workers(config.ingest.workers, [1] * 5) == 2

    summary = RunSummary()
    with project_instance(config) as instance:
        execution.ingest_landed_files(config, instance, summary, reingest=False)
        runs = instance.get_runs(dg.RunsFilter(job_name="ingest_job"))

    assert len(summary.ingested) == 4
    assert list(summary.failed) == ["broken"] and "broken.csv" in summary.failed["broken"]
    owners = {Owner.from_tags(run.tags) for run in runs}
    pids = {owner.pid for owner in owners if owner is not None}
    # Two workers; one may be quick enough to take every file before the other starts.
    assert len(runs) == 5 and 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert {run.tags[names.TRIGGER_TAG] for run in runs} == {names.TRIGGER_CLI}
