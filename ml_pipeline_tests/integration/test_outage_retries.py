"""An outage is retried and a data error is not: a missing bucket on the S3 emulator
(moto's server over HTTP), then created, against a bad file landed beside it."""

import dagster as dg
import pytest
import s3fs

from ml_pipeline.commands.cli import main
from ml_pipeline.commands.doctor import examine
from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.definitions import build_definitions
from ml_pipeline.defs.jobs import INGEST_JOB
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.defs.sensors import build_landing_sensor
from ml_pipeline_tests.conftest import bike_document, land_demo_bikes, write_config

pytestmark = pytest.mark.slow


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, request: dg.RunRequest):
    """The run the daemon would launch for ``request``, executed here."""
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags={**request.tags, "dagster/run_key": request.run_key},
        raise_on_error=False,
    )


def _events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    return list(instance.all_logs(run_id, of_type=kind))


def test_a_missing_bucket_is_named_retried_and_the_file_ingested_once_it_exists(
    tmp_path, s3_endpoint, capsys
) -> None:
    bucket = "ml-pipeline-created-later"
    storage = {
        "data_dir": "data",
        "shared": f"s3://{bucket}/team",
        "options": {"endpoint_url": s3_endpoint},
    }
    document = bike_document(
        storage=storage, sensor={"settle_seconds": 0, "retry_after_seconds": 0}
    )
    config = land_demo_bikes(load_config(write_config(tmp_path, document)))
    landing = config.dataset.landing_dir
    for path in sorted(landing.iterdir())[1:]:
        path.unlink()
    (landing / "empty.csv").write_bytes(b"")

    assert main(["check-config", "--config", str(config.source_path)]) == 2
    assert f"the bucket '{bucket}' does not exist; create it" in capsys.readouterr().err
    [shared] = [f for f in examine(config, fix=False) if f.check == "shared storage"]
    assert not shared.ok and f"aws s3 mb s3://{bucket}" in shared.detail

    job = build_definitions(config).resolve_job_def(INGEST_JOB)
    sensor = build_landing_sensor(config)
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance))
        instance.add_dynamic_partitions(
            landed_files.name, first.dynamic_partitions_requests[0].partition_keys
        )
        runs = {
            request.partition_key: _execute(job, instance, request)
            for request in first.run_requests
        }
        good, bad = runs["bikes_2024-01-01"], runs["empty"]

        assert not good.success and not bad.success
        tags = instance.get_run_by_id(good.run_id).tags
        assert tags[names.OUTAGE_TAG] == "true"
        assert tags[names.OUTAGE_REASON_TAG].startswith("missing bucket: ")
        assert len(_events(instance, good.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 3
        assert (landing / "bikes_2024-01-01.csv").exists(), "an outage never quarantines"
        # The bad file failed once, for its data, and is quarantined as before.
        assert _events(instance, bad.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
        assert names.OUTAGE_TAG not in instance.get_run_by_id(bad.run_id).tags
        assert (config.quarantine_dir / "empty.csv").exists()

        s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(bucket)
        assert main(["check-config", "--config", str(config.source_path)]) == 0

        second = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        [retry] = second.run_requests
        assert retry.partition_key == "bikes_2024-01-01"
        assert retry.run_key.endswith("#retry1")
        assert retry.tags[names.RETRY_TAG].startswith("try 2 of 7 after missing bucket")
        assert _execute(job, instance, retry).success

        third = sensor(dg.build_sensor_context(instance=instance, cursor=second.cursor))
        assert third.run_requests == []
