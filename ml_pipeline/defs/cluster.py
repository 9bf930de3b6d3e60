"""The scale-out profile's executor: dagster-celery, configured from ``pipeline.yaml``.

The run (launched by the daemon, queued by the instance's run coordinator) submits each
step to the broker; ``ml-pipeline worker`` processes on any machine that reaches the
broker, the Postgres instance and the shared data folder take them one at a time.
"""

from pathlib import Path

import dagster as dg
import yaml

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.fileio import atomic_write_text

CELERY_APP = "dagster_celery.app"


def celery_settings(config: PipelineConfig) -> dict:
    """The executor's config, the same for the runs that submit and the workers that take."""
    celery = config.dagster.celery
    if celery is None:
        raise ValueError("dagster.celery is not configured")
    return {
        "broker": celery.broker,
        "backend": celery.backend,
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


def write_worker_config(config: PipelineConfig) -> Path:
    """Write the worker's side of :func:`celery_settings` where `dagster-celery` reads it."""
    path = config.dagster_home / "celery_worker.yaml"
    text = yaml.safe_dump({"execution": {"config": celery_settings(config)}}, sort_keys=True)
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
