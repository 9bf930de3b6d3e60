"""When a wave of newly ingested partitions should trigger one training run."""

from __future__ import annotations


def retrain_reason(
    new_partitions: int, ingest_in_progress: int, training_in_progress: int, min_new_partitions: int
) -> str | None:
    """Why to retrain now, or None. Waits for the wave to finish ingesting first."""
    if training_in_progress or ingest_in_progress:
        return None
    if new_partitions >= min_new_partitions:
        return f"new_partitions:{new_partitions}"
    return None
