"""The project's run launcher: Dagster's default one, plus a health check for run monitoring.

Dagster's default launcher cannot tell whether a run's process still lives, so its run
monitoring would leave a run whose process was killed STARTED forever. Every run records
its owner process when it starts (see :mod:`ml_pipeline.runtime.orphans`); this launcher answers
the monitoring daemon's health check from that record. Runs are launched exactly as by
the default launcher.
"""

from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

from ml_pipeline.core.ownership import Owner


class OwnedRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        owner = Owner.from_tags(run.tags)
        if owner is None:
            # Between the run's start and its first step; the start timeout covers it.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "owner not recorded yet")
        if owner.liveness() == "gone":
            return CheckRunHealthResult(WorkerStatus.FAILED, f"{owner.describe()} is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING, owner.describe())
