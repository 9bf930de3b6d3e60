import json

import dagster as dg

from ml_pipeline.defs.jobs import INGEST_JOB
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.defs.sensors import (
    build_landing_sensor,
    build_retrain_sensor,
    build_wave_end_sensor,
)


def evaluate(sensor, instance, cursor=None):
    """The sensor's own result, before Dagster resolves its run requests."""
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_new_files_give_partitions_and_runs_once(landed_bikes) -> None:
    sensor = build_landing_sensor(landed_bikes)
    with dg.instance_for_test() as instance:
        first = evaluate(sensor, instance)
        keys = [f"bikes_2024-01-0{d}" for d in range(1, 9)]
        assert [r.partition_key for r in first.run_requests] == keys
        assert len({r.run_key for r in first.run_requests}) == 8
        added = first.dynamic_partitions_requests[0]
        assert added.partitions_def_name == landed_files.name
        assert list(added.partition_keys) == keys

        instance.add_dynamic_partitions(landed_files.name, keys)
        again = evaluate(sensor, instance, first.cursor)
        assert again.run_requests == [] and again.dynamic_partitions_requests == []

        newest = landed_bikes.dataset.landing_dir / "bikes_2024-01-08.csv"
        newest.write_text(newest.read_text().replace("clear", "mist", 1))
        changed = evaluate(sensor, instance, again.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["bikes_2024-01-08"]


def test_files_still_being_written_are_left_for_later(bike_config) -> None:
    config = bike_config.model_copy(
        update={"sensor": bike_config.sensor.model_copy(update={"settle_seconds": 3600})}
    )
    landing = config.dataset.landing_dir
    landing.mkdir(parents=True)
    (landing / "growing.csv").write_text("a,count\n1,2\n")
    with dg.instance_for_test() as instance:
        assert evaluate(build_landing_sensor(config), instance).run_requests == []


def test_retrain_waits_for_new_partitions(bike_config) -> None:
    sensor = build_retrain_sensor(bike_config)
    with dg.instance_for_test() as instance:
        idle = evaluate(sensor, instance)
        assert isinstance(idle, dg.SkipReason) and "0 new partition(s)" in idle.skip_message
        instance.add_dynamic_partitions(landed_files.name, ["a", "b"])
        for key in ("a", "b"):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="features", partition=key)
            )
        wave = evaluate(sensor, instance)
        assert len(wave.run_requests) == 1
        assert wave.run_requests[0].tags["ml_pipeline/trigger"] == "new_partitions:2"
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="trained_model"))
        assert isinstance(evaluate(sensor, instance), dg.SkipReason)

        # One drifted partition is enough, though the policy wants more partitions.
        drifting = build_retrain_sensor(
            bike_config.model_copy(
                update={
                    "retraining": bike_config.retraining.model_copy(
                        update={"min_new_partitions": 5}
                    )
                }
            )
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="cleaned_data", partition="a", metadata={"drift_score": 0.9}
            )
        )
        land(instance, "a", "changed")
        [request] = evaluate(drifting, instance).run_requests
        assert request.tags["ml_pipeline/trigger"] == "drift:0.900"


def land(instance: dg.DagsterInstance, key: str, digest: str) -> None:
    """An ingest of partition ``key`` from a file of content ``digest``, as it records it."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="raw_samples", partition=key, metadata={"source_digest": digest}
        )
    )
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="features", partition=key)
    )


def test_partitions_ingested_again_from_unchanged_files_are_not_new(bike_config) -> None:
    sensor = build_retrain_sensor(bike_config)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(landed_files.name, ["a", "b"])
        land(instance, "a", "a1")
        land(instance, "b", "b1")
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="trained_model"))
        # A backfill of both, from the same files: nothing a training could learn from.
        land(instance, "a", "a1")
        land(instance, "b", "b1")
        idle = evaluate(sensor, instance)
        assert isinstance(idle, dg.SkipReason)
        assert "0 new partition(s) (2 re-ingested with unchanged content)" in idle.skip_message
        # One file replaced with new content, one new file: two new partitions.
        land(instance, "a", "a2")
        instance.add_dynamic_partitions(landed_files.name, ["c"])
        land(instance, "c", "c1")
        [request] = evaluate(sensor, instance).run_requests
        assert request.tags["ml_pipeline/trigger"] == "new_partitions:2"


def _finished_ingest(instance, sensor) -> dg.RunStatusSensorContext:
    run = instance.add_run(dg.DagsterRun(job_name=INGEST_JOB, status=dg.DagsterRunStatus.SUCCESS))
    return dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name=INGEST_JOB
        ),
    )


def test_training_starts_when_the_last_ingest_run_of_a_wave_succeeds(bike_config) -> None:
    sensor = build_wave_end_sensor(bike_config)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(landed_files.name, ["a", "b"])
        for key in ("a", "b"):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="features", partition=key)
            )
        still_ingesting = instance.add_run(
            dg.DagsterRun(job_name=INGEST_JOB, status=dg.DagsterRunStatus.STARTED)
        )
        # Not the wave's end: nothing, so the tick goes on to the next finished run.
        assert sensor(_finished_ingest(instance, sensor)) is None

        instance.handle_run_event(
            still_ingesting.run_id,
            dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name=INGEST_JOB
            ),
        )
        [request] = sensor(_finished_ingest(instance, sensor)).run_requests
        assert request.tags["ml_pipeline/trigger"] == "new_partitions:2"
        assert (
            request.run_key
            == build_retrain_sensor(bike_config)(dg.build_sensor_context(instance=instance))
            .run_requests[0]
            .run_key
        )


def test_the_wave_end_sensor_asks_for_a_second_less_than_its_period(bike_config) -> None:
    # Dagster skips a sensor whose last tick started less than its minimum interval ago;
    # ticks start a moment into the daemon's 5 s loop, so the period itself skips loops.
    sensor = bike_config.sensor
    wave_end = build_wave_end_sensor(bike_config).minimum_interval_seconds
    assert wave_end == sensor.wave_end_interval_seconds - 1
    assert build_landing_sensor(bike_config).minimum_interval_seconds == sensor.interval_seconds
    every_second = bike_config.model_copy(
        update={"sensor": sensor.model_copy(update={"wave_end_interval_seconds": 1})}
    )
    assert build_wave_end_sensor(every_second).minimum_interval_seconds == 1


def test_a_wave_below_the_policy_starts_no_training(bike_config) -> None:
    config = bike_config.model_copy(
        update={"retraining": bike_config.retraining.model_copy(update={"min_new_partitions": 3})}
    )
    sensor = build_wave_end_sensor(config)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key="features", partition="a")
        )
        assert sensor(_finished_ingest(instance, sensor)) is None


def test_partitions_ingested_by_other_runs_are_not_requested(landed_bikes) -> None:
    sensor = build_landing_sensor(landed_bikes)
    with dg.instance_for_test() as instance:
        first = evaluate(sensor, instance)
        digests = json.loads(first.cursor)
        instance.add_dynamic_partitions(landed_files.name, list(digests))
        for key, (_size, _mtime, digest) in list(digests.items())[:5]:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key="raw_samples", partition=key, metadata={"source_digest": digest}
                )
            )
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="features", partition=key)
            )
        fresh_cursor = evaluate(sensor, instance)
        assert len(fresh_cursor.run_requests) == 3
