"""The project-local Dagster instance: its folder, its dagster.yaml, and opening it."""

import json
import os
from importlib import resources
from pathlib import Path
from string import Template

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.fileio import atomic_write_text

# The first words of a dagster.yaml that ml-pipeline keeps up to date.
MANAGED_MARK = "# Project-local Dagster instance"

SQLITE_STORAGE = """storage:
  sqlite:
    base_dir:
      env: DAGSTER_HOME"""


def _storage_block(config: PipelineConfig) -> str:
    url = config.dagster.postgres_url
    if url is None:
        return SQLITE_STORAGE
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, while dagster-postgres
    # brings psycopg2: name the driver it brings.
    scheme, rest = url.split("://", 1)
    if "+" not in scheme:
        url = f"postgresql+psycopg2://{rest}"
    # JSON is valid YAML and quotes whatever the URL holds.
    return f"storage:\n  postgres:\n    postgres_url: {json.dumps(url)}"


def instance_settings(config: PipelineConfig) -> str:
    """The dagster.yaml that the config asks for."""
    template = (resources.files("ml_pipeline") / "templates" / "dagster.yaml").read_text(
        encoding="utf-8"
    )
    return Template(template).substitute(
        storage=_storage_block(config),
        max_concurrent_runs=config.dagster.max_concurrent_runs,
        run_retries=config.dagster.run_retries,
    )


def ensure_dagster_home(config: PipelineConfig) -> Path:
    """Create the project-local instance folder with its dagster.yaml, and bring a
    dagster.yaml written by an earlier version or for another config up to date (unless
    its owner took it over by deleting its first line). The folder the README tells people
    to drop files to score into is made here too: every command that runs the project
    passes this way, and no one should have to create it by hand."""
    home = config.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config.scoring_dir.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    wanted = instance_settings(config)
    current = settings.read_text(encoding="utf-8") if settings.exists() else None
    if current is None or (current != wanted and current.startswith(MANAGED_MARK)):
        atomic_write_text(wanted, settings)
    return home


# Runs that ml-pipeline executes in its own processes print to its terminal. Capturing
# their output for the UI, as Dagster does for every run, starts a `tail` and a watcher
# Python process per stream and run, each forked from a process that may hold a whole
# batch file (counted twice in the ingest's resident memory until it execs).
UNCAPTURED_OUTPUT = {
    "compute_logs": {
        "module": "dagster.core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
        "config": {},
    }
}


def project_instance(config: PipelineConfig) -> dg.DagsterInstance:
    """The project's instance, with DAGSTER_HOME pointing at it, for runs executed by
    this process and the workers it spawns: their output is not captured for the UI.

    The variable is set, not only passed: dagster.yaml locates its storage through it,
    so the folder can move. Runs launched by ``dagster dev`` read dagster.yaml alone and
    keep Dagster's capture.
    """
    home = str(ensure_dagster_home(config))
    os.environ["DAGSTER_HOME"] = home
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(home, overrides=UNCAPTURED_OUTPUT))
