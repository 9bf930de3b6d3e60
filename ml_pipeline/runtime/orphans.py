"""Runs whose process died: found by their owner tags and ended, in Dagster and MLflow.

A run killed with its process (an OOM kill, a reboot) stays STARTED forever in the
instance, and its MLflow run stays RUNNING. Left alone, such a run makes every sensor
that waits for quiet wait forever. Every run records its owner when it starts
(:class:`ml_pipeline.defs.resources.PipelineSettings`); a run whose owner is gone is ended
here as failed, with a message naming the process.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from ml_pipeline.core.ownership import Owner, this_host
from ml_pipeline.core.tracking import MlflowStore

# NOT_STARTED and STARTING are left to Dagster's run monitoring (start timeout): their
# owner is not known yet.
RUNNING_STATUSES = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    *RUNNING_STATUSES,
]


@dataclass(frozen=True)
class Orphan:
    run_id: str
    job_name: str
    owner: Owner

    def reason(self) -> str:
        return f"{self.owner.describe()} is gone; the run was ended as failed"


def find_orphans(instance: dg.DagsterInstance) -> list[Orphan]:
    """Active runs whose owner process, on this host, no longer exists."""
    host = this_host()
    orphans = []
    for run in instance.get_runs(dg.RunsFilter(statuses=RUNNING_STATUSES)):
        owner = Owner.from_tags(run.tags)
        if owner is not None and owner.liveness(host) == "gone":
            orphans.append(Orphan(run.run_id, run.job_name, owner))
    return orphans


@dataclass
class Ended:
    """What :func:`end_orphans` ended: Dagster runs, and MLflow runs left RUNNING."""

    orphans: list[Orphan]
    mlflow_runs: list[str]

    def lines(self) -> list[str]:
        return [
            *(f"ended orphaned run {o.run_id[:8]} ({o.job_name}): {o.reason()}"
              for o in self.orphans),
            *(f"ended MLflow run {run} as KILLED: the run or step attempt that started it "
              "is gone" for run in self.mlflow_runs),
        ]  # fmt: skip


def end_orphans(
    instance: dg.DagsterInstance,
    store: MlflowStore | None = None,
    sweep_mlflow: bool = False,
    restarted_step_of: str | None = None,
) -> Ended:
    """End every orphaned run as failed. Given ``store``, MLflow runs left RUNNING by
    ended Dagster runs are marked KILLED: always with ``sweep_mlflow``, otherwise only
    when an orphan was found (importing MLflow costs seconds).

    ``restarted_step_of`` is the Dagster run of a step that starts its MLflow runs
    afresh: any of that run's MLflow runs still RUNNING when it begins were left by an
    earlier attempt of the step that died (a Celery worker killed, its step redelivered).
    """
    orphans = find_orphans(instance)
    for orphan in orphans:
        run = instance.get_run_by_id(orphan.run_id)
        if run is not None and run.status in RUNNING_STATUSES:
            instance.report_run_failed(run, orphan.reason())
    mlflow_runs = []
    if store is not None and (orphans or sweep_mlflow):
        mlflow_runs = end_abandoned_mlflow_runs(instance, store, restarted_step_of)
    return Ended(orphans, mlflow_runs)


def abandoned_mlflow_runs(
    instance: dg.DagsterInstance, store: MlflowStore, restarted_step_of: str | None = None
) -> dict[str, str]:
    """MLflow runs marked RUNNING whose Dagster run of this instance has ended (or is
    ``restarted_step_of``, see :func:`end_orphans`), each with that Dagster run's id: a
    step attempt that died (an OOM kill, a worker killed and its step redelivered) left
    them, and nothing alive will ever end them.

    Runs with no Dagster run tag, or one this instance does not know, belong to someone
    else (a notebook, another project sharing the tracking server) and are left alone.
    """
    abandoned = {}
    for mlflow_run, dagster_run_id in store.running_runs().items():
        if dagster_run_id and dagster_run_id == restarted_step_of:
            abandoned[mlflow_run] = dagster_run_id
            continue
        run = instance.get_run_by_id(dagster_run_id) if dagster_run_id else None
        if run is not None and run.status not in ACTIVE_STATUSES:
            abandoned[mlflow_run] = dagster_run_id
    return abandoned


def end_abandoned_mlflow_runs(
    instance: dg.DagsterInstance, store: MlflowStore, restarted_step_of: str | None = None
) -> list[str]:
    """End every abandoned MLflow run (:func:`abandoned_mlflow_runs`) as KILLED."""
    ended = list(abandoned_mlflow_runs(instance, store, restarted_step_of))
    for mlflow_run in ended:
        store.end_as_killed(mlflow_run)
    return ended


def living_runs(instance: dg.DagsterInstance, job_name: str) -> int:
    """Active runs of ``job_name``, not counting runs whose owner is gone."""
    active = instance.get_runs(dg.RunsFilter(job_name=job_name, statuses=ACTIVE_STATUSES))
    host = this_host()
    return sum(
        1
        for run in active
        if (owner := Owner.from_tags(run.tags)) is None or owner.liveness(host) != "gone"
    )
