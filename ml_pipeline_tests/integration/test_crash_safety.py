"""`ml-pipeline run` and the scoring service killed with SIGKILL at named points.

``ML_PIPELINE_CRASH_AT`` makes the process kill itself at a point (see
:mod:`ml_pipeline.core.crashpoints`), so each kill lands where it is meant to, with no
sleeps. After each kill: a complete version is served and the registry agrees (or the
next command makes it agree, for the one point between the alias and the link); no
partial file is visible; the dead runs are ended once the next command starts; the next
run completes. The tests run in order on one project.
"""

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import requests

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.crashpoints import CRASH_ENV
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.deploy.switch import served_version
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline.defs.sensors import build_retrain_sensor
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.servers import free_port, run_to_end, running, wait_for_http

pytestmark = pytest.mark.slow

KILLED = -9
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
CLI = shutil.which("ml-pipeline", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    root = tmp_path_factory.mktemp("crash")
    # A few hundred rows a batch: too few for the gate's noise test, which is not what
    # these tests are about, so the bars are lowered and every run may promote.
    document = bike_document(
        retraining={"min_new_partitions": 1},
        promotion={"min_gain_over_baseline": 0.0, "confidence": 0.0, "min_compare_rows": 1},
    )
    return load_config(write_config(root / "project", document))


def land(config: PipelineConfig, batches: int, month: int) -> None:
    spec = DemoSpec(
        batches=batches, rows_per_batch=120, start=DemoSpec().start.replace(month=month)
    )
    write_demo_data(spec, config.dataset.landing_dir, config.data_dir / "demo_truth")


def cli(config: PipelineConfig, *args: str, crash: str | None = None):
    env = {CRASH_ENV: crash} if crash else {}
    return run_to_end([CLI, *args, "--config", str(config.source_path)], env=env)


@contextlib.contextmanager
def instance(config: PipelineConfig) -> Iterator[dg.DagsterInstance]:
    # The instance settings read DAGSTER_HOME, as the CLI sets it for itself.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(config.dagster_home))
        with dg.DagsterInstance.from_config(str(config.dagster_home)) as dagster:
            yield dagster


def unfinished_runs(config: PipelineConfig) -> list[dg.DagsterRun]:
    with instance(config) as dagster:
        return list(dagster.get_runs(dg.RunsFilter(statuses=UNFINISHED)))


def assert_served_version_is_complete(config: PipelineConfig, registry_agrees: bool = True):
    store = mlflow_store(config)
    store.activate()
    champion = store.champion()
    serving = served_version(config.deploy_dir)
    if registry_agrees:
        assert serving == (str(champion.version) if champion else None)
    if serving is not None:
        assert (config.deploy_dir / "current" / "MLmodel").is_file()
    for entry in config.deploy_dir.glob("*") if config.deploy_dir.exists() else []:
        if entry.name.startswith(".") or entry.name == "current":
            continue  # hidden temporaries are never read; `current` is checked above
        assert (entry / "MLmodel").is_file(), f"partial version folder {entry}"
    visible_temporaries = [
        path
        for path in config.data_dir.rglob("*.tmp")
        if not any(part.startswith(".") for part in path.relative_to(config.data_dir).parts)
    ]
    assert visible_temporaries == []
    return str(champion.version) if champion else None


def assert_killed_and_left_behind(result, config: PipelineConfig, job: str) -> list[str]:
    """The process died by SIGKILL, and its run is (still) marked as running."""
    assert result.returncode == KILLED, result.stdout[-2000:] + result.stderr[-2000:]
    left = [run for run in unfinished_runs(config) if run.job_name == job]
    assert left, f"the kill left no {job} run behind: the crash point was not reached"
    return [run.run_id for run in left]


def assert_ended_by_the_next_command(config: PipelineConfig, run_ids: list[str]) -> None:
    assert unfinished_runs(config) == []
    with instance(config) as dagster:
        for run_id in run_ids:
            assert dagster.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            messages = [
                entry.dagster_event.message
                for entry in dagster.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            ]
            assert any("is gone" in message for message in messages), messages
    assert mlflow_store(config).running_runs() == {}


def test_killed_during_ingest(project: PipelineConfig) -> None:
    land(project, 6, 1)
    killed = cli(project, "run", crash="ingest")
    orphans = assert_killed_and_left_behind(killed, project, "ingest_job")
    assert assert_served_version_is_complete(project) is None

    after = cli(project, "run")
    assert after.returncode == 0, after.stderr[-3000:]
    assert "ended orphaned run" in after.stderr
    assert_ended_by_the_next_command(project, orphans)
    assert assert_served_version_is_complete(project) == "1"


def test_killed_during_the_search(project: PipelineConfig) -> None:
    land(project, 2, 2)
    killed = cli(project, "run", crash="search")
    orphans = assert_killed_and_left_behind(killed, project, "training_job")
    store = mlflow_store(project)
    left_running = store.running_runs()
    assert left_running, "the search's MLflow runs should be left RUNNING by the kill"
    assert assert_served_version_is_complete(project) == "1"

    after = cli(project, "run")
    assert after.returncode == 0, after.stderr[-3000:]
    assert_ended_by_the_next_command(project, orphans)
    client = store.client()
    assert {client.get_run(run_id).info.status for run_id in left_running} == {"KILLED"}


def test_killed_during_validation_and_repaired_by_doctor(project: PipelineConfig) -> None:
    killed = cli(project, "run", "--retrain", crash="validation")
    orphans = assert_killed_and_left_behind(killed, project, "training_job")
    before = assert_served_version_is_complete(project)

    report = cli(project, "doctor")
    assert report.returncode == 1
    assert "orphaned runs" in report.stdout and "is gone" in report.stdout
    fixed = cli(project, "doctor", "--fix")
    assert fixed.returncode == 0, fixed.stdout
    assert_ended_by_the_next_command(project, orphans)
    assert assert_served_version_is_complete(project) == before


def test_killed_after_registration_before_the_alias_moves(project: PipelineConfig) -> None:
    before = assert_served_version_is_complete(project)
    killed = cli(project, "run", "--retrain", "--promote", "force", crash="registered")
    orphans = assert_killed_and_left_behind(killed, project, "training_job")
    assert assert_served_version_is_complete(project) == before

    after = cli(project, "run", "--retrain", "--promote", "force")
    assert after.returncode == 0, after.stderr[-3000:]
    assert_ended_by_the_next_command(project, orphans)
    assert int(assert_served_version_is_complete(project)) > int(before)


def test_killed_between_the_alias_and_the_current_link(project: PipelineConfig) -> None:
    before = served_version(project.deploy_dir)
    killed = cli(project, "run", "--retrain", "--promote", "force", crash="promoted")
    orphans = assert_killed_and_left_behind(killed, project, "training_job")
    # The alias has moved; `current` still leads to the complete earlier version.
    champion = assert_served_version_is_complete(project, registry_agrees=False)
    assert served_version(project.deploy_dir) == before != champion

    after = cli(project, "run")
    assert after.returncode == 0, after.stderr[-3000:]
    assert "finished an interrupted deployment" in after.stderr
    assert_ended_by_the_next_command(project, orphans)
    assert assert_served_version_is_complete(project) == champion


def test_the_service_killed_while_it_hot_swaps_comes_back_on_the_champion(
    project: PipelineConfig, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [CLI, "serve", "--config", str(project.source_path), "--port", str(port)]
    env = {CRASH_ENV: "hot_swap", "ML_PIPELINE_API_TOKEN": "t"}
    with running(command, tmp_path / "serve.log", env=env) as server:
        wait_for_http(f"{url}/health", server, tmp_path / "serve.log")
        promoted = cli(project, "run", "--retrain", "--promote", "force")
        assert promoted.returncode == 0, promoted.stderr[-3000:]
        assert server.wait(timeout=120) == KILLED
    champion = assert_served_version_is_complete(project)

    with running(command, tmp_path / "again.log", env={"ML_PIPELINE_API_TOKEN": "t"}) as again:
        wait_for_http(f"{url}/health", again, tmp_path / "again.log")
        model = requests.get(f"{url}/model", headers={"Authorization": "Bearer t"}, timeout=10)
        assert model.json()["version"] == champion


def test_the_retrain_sensor_fires_after_a_crash_when_new_data_lands(
    project: PipelineConfig,
) -> None:
    land(project, 2, 3)
    killed = cli(project, "run", crash="search")  # the new files are ingested first
    orphans = assert_killed_and_left_behind(killed, project, "training_job")
    with instance(project) as dagster:
        result = build_retrain_sensor(project)(dg.build_sensor_context(instance=dagster))
        assert not isinstance(result, dg.SkipReason), result.skip_message
        [request] = result.run_requests
        assert request.tags["ml_pipeline/trigger"].startswith("new_partitions:")
    assert_ended_by_the_next_command(project, orphans)
