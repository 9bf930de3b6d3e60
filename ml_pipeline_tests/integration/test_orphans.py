"""Runs whose process died are found by their owner tags and ended; nothing waits on them."""

import subprocess
import sys

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from ml_pipeline.core.ownership import Owner, current_owner, this_host
from ml_pipeline.defs.jobs import INGEST_JOB, TRAINING_JOB
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.defs.sensors import build_retrain_sensor
from ml_pipeline.runtime.instance import ensure_dagster_home
from ml_pipeline.runtime.launcher import OwnedRunLauncher
from ml_pipeline.runtime.orphans import end_orphans, find_orphans, living_runs


def _gone_owner() -> Owner:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return Owner(this_host(), child.pid, "")


def _started_run(instance: dg.DagsterInstance, job: str, owner: Owner | None) -> dg.DagsterRun:
    tags = owner.tags() if owner else {}
    return instance.add_run(
        dg.DagsterRun(job_name=job, status=dg.DagsterRunStatus.STARTED, tags=tags)
    )


def _failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        entry.dagster_event.message
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    ]


def test_a_run_whose_process_is_gone_is_ended_as_failed_naming_the_process() -> None:
    with dg.instance_for_test() as instance:
        gone = _gone_owner()
        orphan = _started_run(instance, TRAINING_JOB, gone)
        alive = _started_run(instance, TRAINING_JOB, current_owner())
        elsewhere = _started_run(instance, TRAINING_JOB, Owner("elsewhere.example", 1, ""))
        unowned = _started_run(instance, INGEST_JOB, None)

        assert [o.run_id for o in find_orphans(instance)] == [orphan.run_id]
        assert living_runs(instance, TRAINING_JOB) == 2
        [ended] = end_orphans(instance).orphans
        assert ended.run_id == orphan.run_id
        status = {run.run_id: run.status for run in instance.get_runs()}
        assert status[orphan.run_id] == dg.DagsterRunStatus.FAILURE
        for untouched in (alive, elsewhere, unowned):
            assert status[untouched.run_id] == dg.DagsterRunStatus.STARTED
        [message] = _failure_messages(instance, orphan.run_id)
        assert f"process {gone.pid} on host {gone.host} is gone" in message
        assert end_orphans(instance).orphans == []


def test_the_retrain_sensor_does_not_wait_on_a_dead_training_run(bike_config) -> None:
    sensor = build_retrain_sensor(bike_config)
    with dg.instance_for_test() as instance:
        dead = _started_run(instance, TRAINING_JOB, _gone_owner())
        instance.add_dynamic_partitions(landed_files.name, ["a"])
        instance.report_runless_asset_event(dg.AssetMaterialization("features", partition="a"))
        result = sensor(dg.build_sensor_context(instance=instance))
        assert not isinstance(result, dg.SkipReason), result.skip_message
        assert len(result.run_requests) == 1
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE


def test_the_retrain_sensor_still_waits_on_a_living_training_run(bike_config) -> None:
    sensor = build_retrain_sensor(bike_config)
    with dg.instance_for_test() as instance:
        _started_run(instance, TRAINING_JOB, current_owner())
        instance.add_dynamic_partitions(landed_files.name, ["a"])
        instance.report_runless_asset_event(dg.AssetMaterialization("features", partition="a"))
        result = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason)
        assert "1 training run(s) in progress" in result.skip_message


def test_run_monitoring_learns_from_the_launcher_that_a_worker_died() -> None:
    launcher = OwnedRunLauncher()
    assert launcher.supports_check_run_worker_health
    gone = dg.DagsterRun(job_name=TRAINING_JOB, tags=_gone_owner().tags())
    alive = dg.DagsterRun(job_name=TRAINING_JOB, tags=current_owner().tags())
    unrecorded = dg.DagsterRun(job_name=TRAINING_JOB)
    assert launcher.check_run_worker_health(gone).status.value == "FAILED"
    assert "is gone" in launcher.check_run_worker_health(gone).msg
    assert launcher.check_run_worker_health(alive).status.value == "RUNNING"
    assert launcher.check_run_worker_health(unrecorded).status.value == "RUNNING"


def test_every_run_records_the_process_that_executes_it(landed_bikes) -> None:
    from ml_pipeline.definitions import build_definitions

    defs = build_definitions(landed_bikes)
    key = "bikes_2024-01-01"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(landed_files.name, [key])
        result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, partition_key=key
        )
        tags = instance.get_run_by_id(result.run_id).tags
    assert Owner.from_tags(tags) == current_owner()


def test_the_instance_settings_enable_run_monitoring_and_follow_the_template(
    bike_config, monkeypatch
) -> None:
    home = ensure_dagster_home(bike_config)
    settings = home / "dagster.yaml"
    text = settings.read_text()
    assert "run_monitoring:\n  enabled: true" in text and "OwnedRunLauncher" in text
    # A file written by an earlier version is brought up to date...
    settings.write_text(text.split("run_launcher:")[0])
    ensure_dagster_home(bike_config)
    assert settings.read_text() == text
    # ...but one its owner took over (first line removed) is left alone.
    own = "\n".join(text.splitlines()[1:]).replace(
        "poll_interval_seconds: 10", "poll_interval_seconds: 30"
    )
    settings.write_text(own)
    ensure_dagster_home(bike_config)
    assert settings.read_text() == own
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_launcher, OwnedRunLauncher)
        assert instance.run_monitoring_enabled
        # A run whose process died is launched again; one that failed in a step is not.
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        retention = instance.get_tick_retention_settings(InstigatorType.SENSOR)
        assert retention[TickStatus.SKIPPED] == 1
        assert retention[TickStatus.FAILURE] != 1  # failed ticks keep the default


def test_an_mlflow_run_left_running_by_a_finished_dagster_run_is_a_problem_until_ended(
    bike_config,
) -> None:
    """As when a Celery worker dies mid-step: the step is redelivered and the Dagster run
    succeeds, but the killed attempt's MLflow run stays RUNNING."""
    from ml_pipeline.commands.doctor import _store
    from ml_pipeline.commands.project import recover
    from ml_pipeline.core.tracking import DAGSTER_RUN_TAG
    from ml_pipeline.defs.resources import mlflow_store
    from ml_pipeline.runtime.instance import project_instance

    store = mlflow_store(bike_config)
    with project_instance(bike_config) as instance:
        finished = instance.add_run(
            dg.DagsterRun(job_name=TRAINING_JOB, status=dg.DagsterRunStatus.SUCCESS)
        )
        running = _started_run(instance, TRAINING_JOB, current_owner())
    client = store.client()
    killed_attempt = client.create_run(store.activate(), tags={DAGSTER_RUN_TAG: finished.run_id})
    live_attempt = client.create_run(store.activate(), tags={DAGSTER_RUN_TAG: running.run_id})
    notebook = client.create_run(store.activate())

    finding = _store(bike_config)
    assert not finding.ok
    assert f"{killed_attempt.info.run_id} (Dagster run {finished.run_id[:8]})" in finding.detail
    assert live_attempt.info.run_id not in finding.detail

    with project_instance(bike_config) as instance:
        lines = recover(bike_config, instance, deployment=False).lines()
    assert lines == [
        f"ended MLflow run {killed_attempt.info.run_id} as KILLED: the run or step attempt that "
        "started it is gone"
    ]
    status = {r.info.run_id: r.info.status for r in (killed_attempt, live_attempt, notebook)}
    assert {run: client.get_run(run).info.status for run in status} == {
        killed_attempt.info.run_id: "KILLED",
        live_attempt.info.run_id: "RUNNING",
        notebook.info.run_id: "RUNNING",
    }
    assert _store(bike_config).ok


def test_a_restarted_training_step_ends_what_its_dead_attempt_left_running(bike_config) -> None:
    """The Celery case as the redelivered step meets it: its own Dagster run is still
    STARTED, and an MLflow run of that run is RUNNING, left by the killed attempt."""
    from ml_pipeline.core.tracking import DAGSTER_RUN_TAG
    from ml_pipeline.defs.resources import mlflow_store
    from ml_pipeline.runtime.instance import project_instance

    store = mlflow_store(bike_config)
    with project_instance(bike_config) as instance:
        this_run = _started_run(instance, TRAINING_JOB, current_owner())
        other_live_run = _started_run(instance, TRAINING_JOB, current_owner())
        client = store.client()
        dead_attempt = client.create_run(store.activate(), tags={DAGSTER_RUN_TAG: this_run.run_id})
        other = client.create_run(store.activate(), tags={DAGSTER_RUN_TAG: other_live_run.run_id})

        ended = end_orphans(instance, store, sweep_mlflow=True, restarted_step_of=this_run.run_id)

    assert ended.mlflow_runs == [dead_attempt.info.run_id]
    assert client.get_run(dead_attempt.info.run_id).info.status == "KILLED"
    assert client.get_run(other.info.run_id).info.status == "RUNNING"
