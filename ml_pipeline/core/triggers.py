"""What started a run, as a sentence a person reads in the UI, the model card and the
promotion history: its trigger tag, spelled out."""

from __future__ import annotations

from ml_pipeline.core.names import (
    DECAY_REASON,
    NEW_PARTITIONS_REASON,
    TRIGGER_BACKFILL,
    TRIGGER_CLI,
    TRIGGER_SCHEDULE,
)

# How each reason of a retraining sensor's trigger reads in the UI; name:value.
_REASON_WORDS = {
    NEW_PARTITIONS_REASON: "{} new partition(s) since the last training",
    "drift": "input drift {} above retraining.drift_threshold",
    "model_age": "the champion is {} old, over retraining.max_model_age_hours",
    DECAY_REASON: "the champion scored {} worse on new partitions than at validation, "
    "beyond retraining.decay_margin and the noise",
}
_STARTED_BY = {
    TRIGGER_SCHEDULE: "the retraining schedule (schedule.cron)",
    TRIGGER_BACKFILL: "a backfill (ml-pipeline backfill or the API)",
    TRIGGER_CLI: "ml-pipeline run",
}


def why_trained(trigger: str | None) -> str:
    """A training run's trigger tag as a sentence: who started it and, for the retraining
    sensor, on what evidence. No tag: someone materialized it in the UI or by the API."""
    if not trigger:
        return "started by hand (Materialize in the UI, or the GraphQL API)"
    if trigger in _STARTED_BY:
        return f"started by {_STARTED_BY[trigger]}"
    return "retraining sensor: " + reasons_in_words(trigger)


def reasons_in_words(reasons: str) -> str:
    """The retraining policy's reasons (``name:value``, joined by commas) as a sentence."""
    said = []
    for reason in reasons.split(","):
        name, _, value = reason.partition(":")
        words = _REASON_WORDS.get(name)
        said.append(words.format(value) if words else reason)
    return "; ".join(said)
