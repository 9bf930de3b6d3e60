"""What every ``ml-pipeline`` command that changes a project does first.

It takes the project's lock (a second command is refused, naming the first), ends the
runs whose process died, and finishes a deployment a killed process left half done,
so that a crash never leaves the next command, or a sensor, waiting on a dead run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.project_lock import project_lock
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline.runtime.orphans import Ended, end_orphans

LOCK_NAME = "ml-pipeline.lock"


@dataclass
class Recovery:
    """What was repaired before the command started."""

    ended: Ended = field(default_factory=lambda: Ended([], []))
    deployment: str | None = None

    def lines(self) -> list[str]:
        lines = self.ended.lines()
        if self.deployment:
            lines.append(f"finished an interrupted deployment: {self.deployment}")
        return lines


def recover(config: PipelineConfig, instance: dg.DagsterInstance, deployment: bool) -> Recovery:
    """End orphaned runs (and their MLflow runs) and, with ``deployment``, make
    ``current`` agree with the registry's champion."""
    from ml_pipeline.core.deploy.switch import reconcile

    store = mlflow_store(config)
    recovery = Recovery(ended=end_orphans(instance, store, sweep_mlflow=True))
    if deployment:
        recovery.deployment = reconcile(store, config.deploy_dir, config.reference_path)
    return recovery


@contextmanager
def open_project(
    config: PipelineConfig,
    command: str,
    report: Callable[[str], None],
    deployment: bool = True,
) -> Iterator[dg.DagsterInstance]:
    """The project's instance, under the project lock, after recovery; raises
    :class:`ml_pipeline.core.project_lock.ProjectBusy` when another command holds it."""
    from ml_pipeline.runtime.instance import project_instance

    with ExitStack() as stack:
        stack.enter_context(project_lock(config.data_dir / LOCK_NAME, command))
        instance = stack.enter_context(project_instance(config))
        for line in recover(config, instance, deployment).lines():
            report(line)
        yield instance
