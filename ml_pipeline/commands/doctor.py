"""``ml-pipeline doctor``: the project's health in one report, and repairs with ``--fix``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml_pipeline.config import PipelineConfig

MIN_FREE_BYTES = 1 << 30  # below 1 GiB, a training run or an export may fail halfway
MIN_FREE_SHARE = 0.02


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':8}{self.check}: {self.detail}"


def _disk(path: Path) -> Finding:
    while not path.exists():
        path = path.parent
    usage = shutil.disk_usage(path)
    free = f"{usage.free / (1 << 30):.1f} GiB free of {usage.total / (1 << 30):.1f} GiB"
    full = usage.free < MIN_FREE_BYTES or usage.free < MIN_FREE_SHARE * usage.total
    return Finding("disk", not full, f"{free} at {path}" + (" (nearly full)" if full else ""))


def _shared(config: PipelineConfig) -> Finding:
    from ml_pipeline.core.storage import writable_problem

    problem = writable_problem(config.shared_root)
    detail = problem or f"{config.shared_root} is writable"
    return Finding("shared storage", problem is None, detail)


def _guarded(check: str, probe: Callable[[], Finding]) -> Finding:
    """A probe's finding, or its error as the finding: one broken part must not hide
    the state of the others."""
    try:
        return probe()
    except Exception as error:  # reported as the finding, never swallowed
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return Finding(check, False, f"{type(error).__name__}: {first}")


def examine(config: PipelineConfig, fix: bool) -> list[Finding]:
    """Every check, in order; with ``fix``, orphaned runs are ended and an interrupted
    deployment finished first (the caller holds the project lock)."""
    from ml_pipeline.core.data.config_faults import preflight

    # A tracking server that does not answer should be reported, not retried for minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    findings = [Finding("config", True, f"{config.source_path} is valid")]
    problem = preflight(config.dataset, config.cleaning, config.contract_path)
    findings.append(
        Finding("landing", problem is None, problem or f"{config.dataset.landing_dir} exists")
    )
    findings.append(_guarded("disk", lambda: _disk(config.data_dir)))
    if config.storage.shared is not None:
        findings.append(_guarded("shared storage", lambda: _shared(config)))
    findings.append(_guarded("dagster instance", lambda: _runs(config, fix)))
    findings.append(_guarded("mlflow store", lambda: _store(config)))
    findings.append(_guarded("deployment", lambda: _deployment(config, fix)))
    if config.notify:
        findings.append(_guarded("notifications", lambda: _notifications(config)))
    return findings


def _notifications(config: PipelineConfig) -> Finding:
    """Every webhook's URL resolves, and no notice of the last day went undelivered."""
    import datetime as dt
    import json

    from ml_pipeline.core.notify import expand

    problems = []
    for index, hook in enumerate(config.notify):
        try:
            expand(hook.url)
        except ValueError as error:
            problems.append(f"notify[{index}].url: {error}")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat(timespec="seconds")
    record = config.deliveries_path
    lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    entries = [json.loads(line) for line in lines if line.strip()]
    recent = [e for e in entries if e["notice_at"] >= since]
    lost = [e for e in recent if not e["delivered"]]
    if lost:
        problems.append(
            f"{len(lost)} of {len(recent)} notice(s) of the last day not delivered ({record})"
        )
    detail = (
        "; ".join(problems)
        or f"{len(config.notify)} webhook(s); {len(recent)} notice(s) delivered in the last day"
    )
    return Finding("notifications", not problems, detail)


def _runs(config: PipelineConfig, fix: bool) -> Finding:
    from ml_pipeline.defs.resources import mlflow_store
    from ml_pipeline.runtime.instance import project_instance
    from ml_pipeline.runtime.orphans import end_orphans, find_orphans

    with project_instance(config) as instance:
        total = instance.get_runs_count()
        if fix:
            ended = end_orphans(instance, mlflow_store(config), sweep_mlflow=True)
            if ended.orphans or ended.mlflow_runs:
                return Finding(
                    "dagster instance", True, f"{total} runs; " + "; ".join(ended.lines())
                )
        orphans = find_orphans(instance)
    if orphans:
        names = ", ".join(
            f"{o.run_id[:8]} {o.job_name} ({o.owner.describe()} is gone)" for o in orphans
        )
        return Finding("dagster instance", False, f"orphaned runs: {names}; --fix ends them")
    return Finding("dagster instance", True, f"{total} runs, none orphaned")


def _store(config: PipelineConfig) -> Finding:
    from ml_pipeline.defs.resources import mlflow_store
    from ml_pipeline.runtime.instance import project_instance
    from ml_pipeline.runtime.orphans import abandoned_mlflow_runs

    store = mlflow_store(config)
    running = store.running_runs()
    answers = f"{config.mlflow_tracking_uri} answers; {len(running)} run(s) marked RUNNING"
    with project_instance(config) as instance:
        abandoned = abandoned_mlflow_runs(instance, store)
    if abandoned:
        named = ", ".join(f"{m} (Dagster run {d[:8]})" for m, d in abandoned.items())
        return Finding(
            "mlflow store",
            False,
            f"{answers}, {len(abandoned)} of them left by Dagster runs that have ended: "
            f"{named}; --fix ends them",
        )
    return Finding("mlflow store", True, answers)


def _deployment(config: PipelineConfig, fix: bool) -> Finding:
    from ml_pipeline.core.deploy.deploy_folder import is_complete
    from ml_pipeline.core.deploy.switch import reconcile, served_version
    from ml_pipeline.defs.resources import mlflow_store

    store = mlflow_store(config)
    if fix:
        done = reconcile(store, config.deploy_dir, config.reference_path)
        if done:
            return Finding("deployment", True, f"repaired: {done}")
    store.activate()
    champion = store.champion()
    serving = served_version(config.deploy_dir)
    if champion is None:
        if serving is None:
            return Finding("deployment", True, "no champion yet, nothing deployed")
        return Finding("deployment", False, f"`current` leads to v{serving} but no champion")
    version = str(champion.version)
    if serving != version:
        return Finding(
            "deployment",
            False,
            f"the champion is version {version} but `current` leads to "
            f"{'v' + serving if serving else 'nothing'}; --fix deploys the champion",
        )
    exported = config.deploy_dir / f"v{version}"
    complete = is_complete(exported) and (exported / "MLmodel").is_file()
    detail = f"champion version {version} is deployed at {exported}"
    return Finding("deployment", complete, detail if complete else f"{detail}, but has no MLmodel")
