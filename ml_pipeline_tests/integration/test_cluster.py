"""The scale-out profile as config: what each setting turns into, and the mistakes it
refuses. The profile running for real is in ``test_live_cluster.py``."""

import dagster as dg
import pytest
import yaml

from ml_pipeline.commands.cli import main
from ml_pipeline.config import ConfigError, load_config
from ml_pipeline.definitions import build_definitions
from ml_pipeline.defs.cluster import (
    celery_settings,
    executor_for,
    worker_command,
    worker_environment,
    write_worker_config,
)
from ml_pipeline.defs.jobs import INGEST_JOB, TRAINING_JOB
from ml_pipeline.runtime.instance import ensure_dagster_home
from ml_pipeline_tests.conftest import bike_document, write_config

PRODUCTION = {
    "postgres_url": "postgresql://dagster@db.internal:5432/dagster",
    "max_concurrent_runs": 12,
    "executor": "celery",
    "celery": {"broker": "amqp://guest:guest@broker.internal:5672//"},
}


@pytest.fixture
def production(tmp_path):
    return load_config(write_config(tmp_path / "project", bike_document(dagster=PRODUCTION)))


def test_the_default_instance_is_embedded_and_runs_steps_in_process(bike_config) -> None:
    text = (ensure_dagster_home(bike_config) / "dagster.yaml").read_text()
    assert "storage:\n  sqlite:" in text and "postgres" not in text
    assert "max_concurrent_runs: 2\n" in text
    assert executor_for(bike_config) is dg.in_process_executor


def test_the_production_instance_is_on_postgres_with_the_configured_run_limit(
    production,
) -> None:
    text = (ensure_dagster_home(production) / "dagster.yaml").read_text()
    settings = yaml.safe_load(text)
    assert settings["storage"] == {
        "postgres": {"postgres_url": "postgresql+psycopg2://dagster@db.internal:5432/dagster"}
    }
    coordinator = settings["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] == 12
    assert {"key": "ml_pipeline/job", "value": "training", "limit": 1} in coordinator["config"][
        "tag_concurrency_limits"
    ]


def test_switching_profiles_rewrites_a_managed_instance_file(bike_config, tmp_path) -> None:
    home = ensure_dagster_home(bike_config)
    document = bike_document(dagster=PRODUCTION)
    document["storage"] = {"data_dir": str(bike_config.data_dir)}
    moved = load_config(write_config(tmp_path / "elsewhere", document))
    assert ensure_dagster_home(moved) == home
    assert "postgres:" in (home / "dagster.yaml").read_text()


def test_every_job_runs_on_the_celery_executor_with_redelivery(production) -> None:
    defs = build_definitions(production)
    for job in (INGEST_JOB, TRAINING_JOB):
        assert defs.resolve_job_def(job).executor_def.name == "celery"
    settings = celery_settings(production)
    assert settings["broker"] == PRODUCTION["celery"]["broker"]
    assert settings["config_source"]["task_acks_late"] is True
    assert settings["config_source"]["task_reject_on_worker_lost"] is True


def test_workers_read_the_same_celery_settings_as_the_runs(production) -> None:
    written = yaml.safe_load(write_worker_config(production).read_text())
    settings = celery_settings(production)
    assert written == {"execution": {"config": {"config_source": settings["config_source"]}}}
    # The URLs reach the worker as the variables Celery reads first, in no file.
    assert worker_environment(production) == {
        "CELERY_BROKER_URL": PRODUCTION["celery"]["broker"],
        "CELERY_RESULT_BACKEND": "rpc://",
    }
    command = worker_command("dagster-celery", production, "gpu-box")
    assert command[:5] == ["dagster-celery", "worker", "start", "-A", "dagster_celery.app"]
    assert command[command.index("-n") + 1] == "gpu-box"
    assert command[-2:] == ["--", "--pool=solo"]


@pytest.mark.parametrize(
    ("dagster", "problem"),
    [
        ({"executor": "celery", "postgres_url": "postgresql://x@h/d"}, "needs celery.broker"),
        ({"executor": "celery", "celery": {"broker": "amqp://h//"}}, "needs postgres_url"),
        ({"postgres_url": "mysql://h/d"}, "dagster.postgres_url"),
        ({**PRODUCTION, "celery": {"broker": "http://h"}}, "dagster.celery.broker"),
        ({"executor": "dask"}, "dagster.executor"),
        ({"max_concurrent_runs": 0}, "dagster.max_concurrent_runs"),
    ],
)
def test_scale_out_mistakes_are_refused_naming_the_field(tmp_path, dagster, problem) -> None:
    path = write_config(tmp_path, bike_document(dagster=dagster))
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_a_worker_without_the_celery_executor_is_refused(bike_config, capsys) -> None:
    assert main(["worker", "--config", str(bike_config.source_path)]) == 2
    assert "dagster.executor is not 'celery'" in capsys.readouterr().err


SECRET = "s3cr3t-broker-password-7f1c"


def test_a_broker_url_from_the_environment_is_written_to_no_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TEAM_BROKER_URL", f"amqp://ml:{SECRET}@broker.internal:5672/ml")
    monkeypatch.setenv("TEAM_BACKEND_URL", f"redis://:{SECRET}@cache.internal:6379/0")
    dagster = {
        **PRODUCTION,
        "celery": {"broker": "${TEAM_BROKER_URL}", "backend": "${TEAM_BACKEND_URL}"},
    }
    config = load_config(write_config(tmp_path / "project", bike_document(dagster=dagster)))
    settings = celery_settings(config)
    assert settings["broker"] == {"env": "TEAM_BROKER_URL"}
    assert settings["backend"] == {"env": "TEAM_BACKEND_URL"}
    build_definitions(config).resolve_job_def(TRAINING_JOB)
    write_worker_config(config)
    ensure_dagster_home(config)
    environment = worker_environment(config)
    assert SECRET in environment["CELERY_BROKER_URL"]
    assert SECRET in environment["CELERY_RESULT_BACKEND"]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not [p for p in written if SECRET in p.read_text(errors="replace")]


def test_an_unset_broker_variable_stops_the_worker_in_one_line(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("TEAM_BROKER_URL", raising=False)
    dagster = {**PRODUCTION, "celery": {"broker": "${TEAM_BROKER_URL}"}}
    path = write_config(tmp_path / "project", bike_document(dagster=dagster))
    assert main(["worker", "--config", str(path)]) != 0
    error = capsys.readouterr().err.strip()
    assert "dagster.celery.broker is ${TEAM_BROKER_URL}, and TEAM_BROKER_URL is not set" in error
