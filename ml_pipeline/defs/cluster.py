"""The scale-out profile's executor: dagster-celery, configured from ``pipeline.yaml``.

The run (launched by the daemon, queued by the instance's run coordinator) submits each
step to the broker; ``ml-pipeline worker`` processes on any machine that reaches the
broker, the Postgres instance and the shared data folder take them one at a time.
"""

from pathlib import Path

import dagster as dg
import yaml

from ml_pipeline.config import PipelineConfig, env_reference, resolve_env_reference
from ml_pipeline.core.fileio import atomic_write_text

CELERY_APP = "dagster_celery.app"


def _source(value: str) -> str | dict[str, str]:
    """A URL as Dagster config: ``${NAME}`` becomes ``{"env": NAME}``, which Dagster
    reads from the environment of the process that runs, never from a file."""
    name = env_reference(value)
    return {"env": name} if name else value


def celery_settings(config: PipelineConfig) -> dict:
    """The executor's config for the runs that submit steps."""
    celery = config.dagster.celery
    if celery is None:
        raise ValueError("dagster.celery is not configured")
    return {
        "broker": _source(celery.broker),
        "backend": _source(celery.backend),
        **_task_settings(),
    }


def _task_settings() -> dict:
    return {
        "config_source": {
            # A step is acknowledged when it ends, not when it starts: if its worker
            # dies, the broker hands the step to another worker instead of losing it.
            # Every step writes atomically, so running one again is safe.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
        },
    }


def executor_for(config: PipelineConfig) -> dg.ExecutorDefinition:
    if config.dagster.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_settings(config), name="celery")
    # A process per step would cost more than most steps do.
    return dg.in_process_executor


def worker_environment(config: PipelineConfig) -> dict[str, str]:
    """The broker and result backend for a worker, as the variables Celery reads first.

    dagster-celery writes the URLs of its config file into a generated Python module in
    plain text; passed this way they reach the worker's process and no file. A
    ``${NAME}`` that is not set raises ValueError naming it."""
    celery = config.dagster.celery
    if celery is None:
        raise ValueError("dagster.celery is not configured")
    return {
        "CELERY_BROKER_URL": resolve_env_reference(celery.broker, "dagster.celery.broker"),
        "CELERY_RESULT_BACKEND": resolve_env_reference(celery.backend, "dagster.celery.backend"),
    }


def write_worker_config(config: PipelineConfig) -> Path:
    """Write the worker's side of :func:`celery_settings` where `dagster-celery` reads it:
    the task settings only (the URLs come from :func:`worker_environment`)."""
    path = config.dagster_home / "celery_worker.yaml"
    text = yaml.safe_dump({"execution": {"config": _task_settings()}}, sort_keys=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(text, path)
    return path


def worker_command(executable: str, config: PipelineConfig, name: str | None) -> list[str]:
    command = [
        executable,
        "worker",
        "start",
        "-A",
        CELERY_APP,
        "-y",
        str(write_worker_config(config)),
    ]
    if name:
        command += ["-n", name]
    # One step at a time per worker, in the worker's own process: the model search
    # already fans out over the machine's cores itself (training.n_jobs).
    return [*command, "--", "--pool=solo"]
