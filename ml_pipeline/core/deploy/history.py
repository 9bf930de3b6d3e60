"""The promotion history: every decision the gate or a person made, read back from the
MLflow registry and run tags alone, so it outlives the Dagster instance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from ml_pipeline.core import names, tracking
from ml_pipeline.core.triggers import why_trained

FORCED_REASON = "promotion forced by run config"
REFUSED_REASON = "promotion refused by run config"


@dataclass(frozen=True)
class HistoryEntry:
    at: str  # ISO 8601, UTC
    decision: str  # promoted, forced, kept, refused, rolled back
    version: str | None  # the version that serves after the decision
    reason: str
    started_by: str  # what or who started it: the sensor, the schedule, user@host...
    metrics: dict[str, float] = field(default_factory=dict)  # holdout scores it rested on
    mlflow_run_id: str | None = None


def _iso(millis: int | None) -> str:
    moment = dt.datetime.fromtimestamp((millis or 0) / 1000, dt.UTC)
    return moment.isoformat(timespec="seconds")


def _decision(promoted: bool, reason: str) -> str:
    if reason == FORCED_REASON:
        return "forced"
    if reason == REFUSED_REASON:
        return "refused"
    return "promoted" if promoted else "kept"


def _started_by(tags: dict[str, str]) -> str:
    who = tags.get(names.MLFLOW_STARTED_BY_TAG)
    said = why_trained(tags.get(names.MLFLOW_TRIGGER_TAG))
    return f"{said} ({who})" if who else said


def gate_decisions(store: tracking.MlflowStore) -> list[HistoryEntry]:
    """One entry per training run the gate decided on."""
    client = store.client()
    experiment = client.get_experiment_by_name(store.experiment)
    if experiment is None:
        return []
    versions = {v.run_id: v for v in store.all_versions() if v.run_id}
    entries = []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{names.PROMOTE_TAG}` LIKE '%'",
        order_by=["attributes.start_time ASC"],
        max_results=50_000,
    )
    for run in runs:
        tags = run.data.tags
        promoted = tags.get(names.PROMOTE_TAG) == "True"
        reason = tags.get(names.DECISION_TAG, "")
        registered = versions.get(run.info.run_id)
        decision, serving = _decision(promoted, reason), None
        if registered is not None and registered.tags.get(names.APPROVAL_TAG) == "manual":
            decision = "awaiting approval"
            reason = f"{reason}; registered as version {registered.version}"
        elif promoted and registered is not None:
            serving = str(registered.version)
        holdout = {
            key.removeprefix("holdout_"): value
            for key, value in run.data.metrics.items()
            if key.startswith("holdout_")
        }
        entries.append(
            HistoryEntry(
                at=_iso(run.info.end_time or run.info.start_time),
                decision=decision,
                version=serving,
                reason=reason,
                started_by=_started_by(tags),
                metrics=holdout,
                mlflow_run_id=run.info.run_id,
            )
        )
    return entries


def rollbacks(store: tracking.MlflowStore) -> list[HistoryEntry]:
    """One entry per rollback: the version it moved away from carries when."""
    entries = []
    for version in store.all_versions():
        at = version.tags.get(names.ROLLED_BACK_TAG)
        previous = version.tags.get(names.PREVIOUS_CHAMPION_TAG)
        if at and previous:
            entries.append(
                HistoryEntry(
                    at=at,
                    decision="rolled back",
                    version=previous,
                    reason=f"version {version.version} rolled back to version {previous}",
                    started_by="ml-pipeline rollback",
                )
            )
    return entries


def approvals(store: tracking.MlflowStore) -> list[HistoryEntry]:
    """One entry per candidate a person approved or rejected (``user@host at time``)."""
    entries = []
    for version in store.all_versions():
        for tag, decision, verb in (
            (names.APPROVED_TAG, "approved", "approve"),
            (names.REJECTED_TAG, "rejected", "reject"),
        ):
            said = version.tags.get(tag)
            if said:
                person, _, at = said.partition(" at ")
                entries.append(
                    HistoryEntry(
                        at=at,
                        decision=decision,
                        version=str(version.version) if decision == "approved" else None,
                        reason=f"version {version.version} {decision}",
                        started_by=f"ml-pipeline {verb} ({person})",
                    )
                )
    return entries


def promotion_history(store: tracking.MlflowStore) -> list[HistoryEntry]:
    """Every decision, oldest first, each with the version serving after it."""
    found = [*gate_decisions(store), *rollbacks(store), *approvals(store)]
    serving, history = None, []
    for entry in sorted(found, key=lambda entry: entry.at):
        # Only promotions, approvals and rollbacks change what serves; the rest leave it.
        serving = entry.version or serving
        history.append(replace(entry, version=serving))
    return history


def history_lines(entries: list[HistoryEntry]) -> list[str]:
    """The history as ``ml-pipeline history`` prints it, one decision a line."""
    lines = []
    for entry in entries:
        scores = ", ".join(f"{k}={v:.4g}" for k, v in sorted(entry.metrics.items()))
        serving = f"v{entry.version}" if entry.version else "no champion"
        lines.append(
            f"{entry.at}  {entry.decision:<11} {serving:<11} {entry.reason}"
            + (f" [{scores}]" if scores else "")
            + f"; started by {entry.started_by}"
        )
    return lines


def history_rows(entries: list[HistoryEntry], limit: int = 20) -> list[dict[str, object]]:
    """The newest ``limit`` decisions, newest first, as table rows for the UI."""
    return [
        {
            "when": entry.at,
            "decision": entry.decision,
            "serving": entry.version or "none",
            "reason": entry.reason,
            "started by": entry.started_by,
        }
        for entry in reversed(entries[-limit:])
    ]
