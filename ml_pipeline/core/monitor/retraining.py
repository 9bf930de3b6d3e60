"""The retraining policy: when a wave of new data, drift, decay or age calls for a new model."""

from __future__ import annotations

from dataclasses import dataclass

from ml_pipeline.config import RetrainingConfig
from ml_pipeline.core.names import DECAY_REASON, NEW_PARTITIONS_REASON


@dataclass(frozen=True)
class Activity:
    """What is going on now, as far as retraining cares."""

    ingest_runs: int = 0
    training_runs: int = 0
    backfills: int = 0

    @property
    def busy(self) -> str | None:
        if self.training_runs:
            return f"{self.training_runs} training run(s) in progress"
        if self.ingest_runs:
            return f"{self.ingest_runs} ingest run(s) still in the wave"
        if self.backfills:
            return f"{self.backfills} backfill(s) in progress"
        return None


@dataclass(frozen=True)
class Evidence:
    """Data that arrived since the last training, and how old the last training is."""

    new_partitions: int
    max_drift: float | None
    hours_since_training: float | None
    # Partitions materialized again since, from files whose content had not changed.
    unchanged_partitions: int = 0
    # The worst decay champion_performance (landed partitions) or prediction_monitoring
    # (labelled served rows) found beyond its margin and noise since (a
    # share: 0.2 is 20% worse than at validation); None when it found none.
    decay: float | None = None


def retrain_reasons(
    evidence: Evidence, activity: Activity, policy: RetrainingConfig
) -> tuple[list[str], str]:
    """The reasons to retrain now (empty: don't), and a sentence saying why or why not.

    Nothing starts while a wave is still ingesting or a training or backfill is running,
    so each wave gets exactly one training run and none pile up.
    """
    busy = activity.busy
    if busy:
        return [], f"waiting: {busy}"
    reasons = []
    if evidence.new_partitions >= policy.min_new_partitions:
        reasons.append(f"{NEW_PARTITIONS_REASON}:{evidence.new_partitions}")
    if (
        policy.drift_threshold is not None
        and evidence.new_partitions
        and evidence.max_drift is not None
        and evidence.max_drift > policy.drift_threshold
    ):
        reasons.append(f"drift:{evidence.max_drift:.3f}")
    if (
        policy.max_model_age_hours is not None
        and evidence.hours_since_training is not None
        and evidence.hours_since_training > policy.max_model_age_hours
    ):
        reasons.append(f"model_age:{evidence.hours_since_training:.0f}h")
    if policy.decay_margin is not None and evidence.decay is not None:
        reasons.append(f"{DECAY_REASON}:{evidence.decay:+.1%}")
    if reasons:
        return reasons, "retrain: " + ", ".join(reasons)
    unchanged = (
        f" ({evidence.unchanged_partitions} re-ingested with unchanged content)"
        if evidence.unchanged_partitions
        else ""
    )
    return [], (
        f"{evidence.new_partitions} new partition(s){unchanged}, "
        f"below {policy.min_new_partitions}; "
        f"max drift {evidence.max_drift if evidence.max_drift is not None else 'n/a'}; "
        "no retraining now"
    )
