"""The scale-out profile, live: a Postgres-backed Dagster instance with its daemon and
webserver, steps on two Celery workers (separate processes, RabbitMQ broker), an
MLflow tracking server on Postgres with its own artifact store, and shared storage in
an S3 bucket: tables, the outputs steps pass between workers, and the deploy folder.

Everything is real and local: the machine's PostgreSQL and RabbitMQ, each test run in
databases of its own that it drops afterwards. S3 is the one stand-in: moto's server,
an emulator speaking the S3 protocol over HTTP, since no real S3 is reachable here.
"""

import contextlib
import os
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.deploy import deploy_folder
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.live.test_live_dagster import failures, runs
from ml_pipeline_tests.s3 import new_bucket
from ml_pipeline_tests.servers import (
    free_port,
    poll_until,
    running,
    scratch_database,
    wait_for_http,
)

pytestmark = [pytest.mark.slow, pytest.mark.live]
psycopg2 = pytest.importorskip("psycopg2", reason="the cluster extra is not installed")
pytest.importorskip("dagster_celery", reason="the cluster extra is not installed")

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
# The broker URL reaches every process from the environment, as a secret would.
BROKER_VARIABLE = "ML_PIPELINE_TEST_BROKER_URL"
LANDED = 6
WORKERS = ("first", "second")


def executable(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed beside {sys.executable}"
    return found


def deployed_model_file(config) -> bool:
    """Whether ``current`` leads to a complete export with its MLmodel."""
    name = deploy_folder.current_name(config.deploy_dir)
    exported = config.deploy_dir / name if name else None
    return (
        bool(exported) and deploy_folder.is_complete(exported) and (exported / "MLmodel").is_file()
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_endpoint):
    project = tmp_path_factory.mktemp("cluster")
    shared_artifacts = project / "shared" / "mlflow-artifacts"
    os.environ[BROKER_VARIABLE] = BROKER
    with (
        scratch_database("test_dagster") as dagster_db,
        scratch_database("test_mlflow") as mlflow_db,
        contextlib.ExitStack() as processes,
    ):
        mlflow_port = free_port()
        mlflow_log = project / "mlflow.log"
        server = processes.enter_context(
            running(
                [
                    executable("mlflow"),
                    "server",
                    "--backend-store-uri",
                    # SQLAlchemy's bare postgresql:// means psycopg 3; the cluster extra
                    # brings psycopg2 (through dagster-postgres).
                    mlflow_db.replace("postgresql://", "postgresql+psycopg2://"),
                    "--artifacts-destination",
                    str(shared_artifacts),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                    "--workers",
                    "1",
                ],
                mlflow_log,
            )
        )
        tracking_uri = f"http://127.0.0.1:{mlflow_port}"
        wait_for_http(f"{tracking_uri}/health", server, mlflow_log, timeout=180)

        document = bike_document(
            sensor={"interval_seconds": 5, "settle_seconds": 1},
            retraining={"min_new_partitions": 1},
            dagster={
                "postgres_url": dagster_db,
                "max_concurrent_runs": 4,
                "executor": "celery",
                "celery": {"broker": f"${{{BROKER_VARIABLE}}}"},
            },
            storage={
                "data_dir": "data",
                "shared": f"s3://{new_bucket(s3_endpoint)}/team",
                "options": {"endpoint_url": s3_endpoint},
            },
        )
        document["mlflow"]["tracking_uri"] = tracking_uri
        config = load_config(write_config(project, document))
        cli = executable("ml-pipeline")
        # The webserver and daemon first: they create the instance's tables, which
        # workers starting at the same moment would race to create too.
        logs, workers = {}, {}
        port = free_port()
        logs["dagster"] = project / "dagster.log"
        ui = processes.enter_context(
            running(
                [cli, "ui", "--port", str(port), "--config", str(config.source_path)],
                logs["dagster"],
            )
        )
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/server_info", ui, logs["dagster"], timeout=180)
        for name in WORKERS:
            logs[name] = project / f"worker-{name}.log"
            workers[name] = processes.enter_context(
                running(
                    [cli, "worker", "--name", name, "--config", str(config.source_path)],
                    logs[name],
                )
            )
        yield config, url, logs, workers, shared_artifacts, mlflow_db
    os.environ.pop(BROKER_VARIABLE, None)


def logs_tail(logs: dict[str, Path]) -> str:
    return "\n".join(f"--- {n}\n{p.read_text()[-2500:]}" for n, p in logs.items())


def test_landed_files_flow_through_celery_workers_to_a_champion_on_postgres(cluster) -> None:
    config, url, logs, workers, shared_artifacts, mlflow_db = cluster
    landed = write_demo_data(
        DemoSpec(batches=LANDED, rows_per_batch=240),
        config.dataset.landing_dir,
        config.data_dir / "demo_truth",
    )

    def trained() -> bool:
        for name, worker in workers.items():
            if worker.poll() is not None:
                raise AssertionError(f"worker {name} exited\n{logs_tail(logs)}")
        counts = Counter((r["jobName"], r["status"]) for r in runs(url))
        for job in ("ingest_job", "training_job"):
            if counts[(job, "FAILURE")]:
                raise AssertionError(f"{job} failed:\n{failures(url, job)}\n{logs_tail(logs)}")
        # On a busy machine the retrain sensor may see the wave in two parts and
        # train twice: wait for the deployment and for no training left to finish.
        unfinished = sum(
            n
            for (job, status), n in counts.items()
            if job == "training_job" and status in ("QUEUED", "STARTING", "STARTED")
        )
        return (
            counts[("ingest_job", "SUCCESS")] == len(landed)
            and counts[("training_job", "SUCCESS")] >= 1
            and unfinished == 0
            and deployed_model_file(config)
        )

    try:
        poll_until(trained, "every file ingested and a champion trained", timeout=420, every=2)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{logs_tail(logs)}") from None

    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # Every partition materialized exactly once, at every ingest asset.
        for asset in ("raw_samples", "cleaned_data", "features"):
            events = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
            per_partition = Counter(e.partition_key for e in events)
            assert per_partition == Counter({p.stem: 1 for p in landed}), asset
        # dagster-celery records the worker that took each step.
        takers = set()
        for record in instance.get_run_records():
            for entry in instance.all_logs(record.dagster_run.run_id):
                event = entry.dagster_event
                data = event.engine_event_data if event and event.is_engine_event else None
                if data and "Celery worker" in data.metadata:
                    takers.add(data.metadata["Celery worker"].value.split("@")[0])
        validations = instance.fetch_materializations(
            dg.AssetKey("validation_metrics"), limit=5
        ).records
        verdicts = [
            {k: v.value for k, v in r.asset_materialization.metadata.items()} for r in validations
        ]
    assert takers == set(WORKERS), f"steps ran on {takers}"
    assert validations, "no validation_metrics materialization"

    from mlflow import MlflowClient

    # Both URIs: without registry_uri the client asks whichever registry an earlier
    # test of this process set globally (mlflow.set_registry_uri), not this server.
    client = MlflowClient(
        tracking_uri=config.mlflow.tracking_uri, registry_uri=config.mlflow.tracking_uri
    )
    champions = client.search_model_versions(f"name = '{config.mlflow.registered_model}'")
    assert champions, f"nothing registered; validation said {verdicts}"
    champion = client.get_model_version_by_alias(config.mlflow.registered_model, "champion")
    connection = psycopg2.connect(mlflow_db)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT version FROM registered_model_aliases WHERE name = %s AND alias = %s",
                (config.mlflow.registered_model, "champion"),
            )
            assert cursor.fetchone() == (int(champion.version),)
    finally:
        connection.close()
    # The model's files are in the server's shared artifact store, and deployed.
    assert any(shared_artifacts.rglob("MLmodel")), f"no model under {shared_artifacts}"
    assert deployed_model_file(config)
    # Tables and the values steps handed each other across workers are in the bucket.
    assert len(list((config.warehouse_dir / names.FEATURES).glob("*.parquet"))) == LANDED
    assert (config.step_outputs_dir / f"{names.TRAINED_MODEL}.pickle").is_file()


def step_takers(instance: dg.DagsterInstance, run_id: str, step: str) -> list[str]:
    """The workers that took ``step`` of the run, in order."""
    takers = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event and event.is_engine_event and event.step_key == step:
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                takers.append(worker.value.split("@")[0])
    return takers


def test_a_worker_killed_mid_training_loses_nothing(cluster) -> None:
    config, url, logs, workers, _shared, _mlflow_db = cluster
    write_demo_data(
        DemoSpec(batches=2, rows_per_batch=240, start=DemoSpec().start.replace(month=3)),
        config.dataset.landing_dir,
        config.data_dir / "demo_truth",
    )
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:

        def training_on_a_worker() -> tuple[str, str] | None:
            started = instance.get_run_records(
                dg.RunsFilter(job_name="training_job", statuses=[dg.DagsterRunStatus.STARTED])
            )
            for record in started:
                takers = step_takers(instance, record.dagster_run.run_id, "trained_model")
                if takers:
                    return record.dagster_run.run_id, takers[0]
            return None

        run_id, victim = poll_until(
            training_on_a_worker, "a training step on a worker", timeout=300, every=0.2
        )
        # Killed once the attempt has opened its MLflow runs, which it never ends.
        store = mlflow_store(config)
        poll_until(
            lambda: run_id in store.running_runs().values(),
            "the step attempt's MLflow run",
            timeout=300,
            every=0.2,
        )
        os.killpg(workers[victim].pid, signal.SIGKILL)
        workers[victim].wait(timeout=30)

        def ended() -> dg.DagsterRun | None:
            run = instance.get_run_by_id(run_id)
            return run if run.is_finished else None

        try:
            run = poll_until(ended, "the training run's end", timeout=300, every=1)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{logs_tail(logs)}") from None
        # The broker handed the killed worker's step to the survivor, and the run went on.
        assert run.status == dg.DagsterRunStatus.SUCCESS, failures(url, "training_job")
        survivor = next(name for name in WORKERS if name != victim)
        assert step_takers(instance, run_id, "trained_model") == [victim, survivor]
    # The redelivered attempt ended what the killed one left RUNNING, with no command run.
    assert store.running_runs() == {}
    # Whatever the killed step had begun is not where readers look: the deployed model
    # is whole.
    import mlflow.pyfunc

    local = deploy_folder.fetch_current(config.deploy_dir, config.data_dir / "fetched")
    assert mlflow.pyfunc.load_model(str(local)).metadata.run_id


def test_files_to_score_run_on_the_workers_and_a_backfill_rescores_with_a_chosen_version(
    cluster,
) -> None:
    import pandas as pd
    from mlflow import MlflowClient

    from ml_pipeline.core.data.warehouse import Warehouse
    from ml_pipeline.core.deploy import batch_scoring

    config, url, logs, _workers, _shared, _mlflow_db = cluster
    staged = write_demo_data(
        DemoSpec(batches=3, rows_per_batch=150, start=DemoSpec().start.replace(month=5)),
        config.data_dir / "to_score",
        config.data_dir / "to_score_truth",
    )
    inputs = {}
    config.scoring_dir.mkdir(parents=True, exist_ok=True)
    for path in staged:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["count"])
        frame.to_csv(config.data_dir / "to_score" / f"{path.stem}.tmp", index=False)
        (config.data_dir / "to_score" / f"{path.stem}.tmp").rename(config.scoring_dir / path.name)
        inputs[path.stem] = len(frame)
    client = MlflowClient(
        tracking_uri=config.mlflow.tracking_uri, registry_uri=config.mlflow.tracking_uri
    )
    name = config.mlflow.registered_model
    champion = str(client.get_model_version_by_alias(name, "champion").version)

    def scored() -> bool:
        counts = Counter(r["status"] for r in runs(url) if r["jobName"] == "scoring_job")
        if counts["FAILURE"]:
            raise AssertionError(f"{failures(url, 'scoring_job')}\n{logs_tail(logs)}")
        return counts["SUCCESS"] == len(inputs)

    poll_until(scored, "every scoring file scored", timeout=300, every=2)
    warehouse = Warehouse(config.warehouse_dir)
    for key, rows in inputs.items():
        table = warehouse.read(names.BATCH_PREDICTIONS, key)
        assert len(table) == rows, key
        assert set(table[batch_scoring.MODEL_VERSION]) == {champion}
        assert table[batch_scoring.PREDICTION].notna().all(), key
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        scoring_runs = instance.get_run_records(dg.RunsFilter(job_name="scoring_job"))
        for record in scoring_runs:
            assert step_takers(instance, record.dagster_run.run_id, names.BATCH_PREDICTIONS)

    # A second version of the same model: re-scoring with it must say so on every row.
    chosen = str(client.copy_model_version(f"models:/{name}/{champion}", name).version)
    rescored, kept = sorted(inputs)[:2], sorted(inputs)[2]
    command = [
        executable("ml-pipeline"),
        "backfill",
        "--rescore",
        chosen,
        "--partitions",
        ",".join(rescored),
        "--url",
        url,
        "--config",
        str(config.source_path),
    ]
    log = config.data_dir / "rescore.log"
    with running(command, log) as backfill:
        poll_until(lambda: backfill.poll() is not None, "the re-score backfill", timeout=300)
    assert backfill.returncode == 0, f"{log.read_text()}\n{logs_tail(logs)}"
    for key in rescored:
        table = warehouse.read(names.BATCH_PREDICTIONS, key)
        assert len(table) == inputs[key]
        assert set(table[batch_scoring.MODEL_VERSION]) == {chosen}, key
    assert set(warehouse.read(names.BATCH_PREDICTIONS, kept)[batch_scoring.MODEL_VERSION]) == {
        champion
    }


def test_the_broker_url_from_the_environment_is_in_no_file(cluster) -> None:
    # Runs and workers have taken steps through the broker by now (the tests above);
    # dagster-celery's generated worker config and every file of the project lack it.
    config, _url, logs, *_ = cluster
    project = config.source_path.parent
    generated = list((config.dagster_home / "dagster_celery").rglob("*.py"))
    assert generated, logs_tail(logs)
    holding = [
        path
        for path in project.rglob("*")
        if path.is_file() and BROKER in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert holding == []
