"""The project-local Dagster instance: its folder, its dagster.yaml, and opening it."""

import os
from importlib import resources
from pathlib import Path

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.fileio import atomic_write_text

# The first words of a dagster.yaml that ml-pipeline keeps up to date.
MANAGED_MARK = "# Project-local Dagster instance"


def ensure_dagster_home(config: PipelineConfig) -> Path:
    """Create the project-local instance folder with its dagster.yaml, and bring a
    dagster.yaml written by an earlier version up to date (unless its owner took it over
    by deleting its first line)."""
    home = config.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    template = (resources.files("ml_pipeline") / "templates" / "dagster.yaml").read_text(
        encoding="utf-8"
    )
    current = settings.read_text(encoding="utf-8") if settings.exists() else None
    if current is None or (current != template and current.startswith(MANAGED_MARK)):
        atomic_write_text(template, settings)
    return home


def project_instance(config: PipelineConfig) -> dg.DagsterInstance:
    """The project's instance, with DAGSTER_HOME pointing at it.

    The variable is set, not only passed: dagster.yaml locates its storage through it,
    so the folder can move, and the ingest workers this process spawns read the same
    instance settings from the environment they inherit.
    """
    os.environ["DAGSTER_HOME"] = str(ensure_dagster_home(config))
    return dg.DagsterInstance.get()
