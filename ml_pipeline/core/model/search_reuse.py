"""When a retraining may refit the last search's choice instead of searching again.

The search is most of a training run, minutes of it at a million rows. A retraining
that new partitions alone triggered (a file landed) refits the configuration the last
search chose on the grown data; the scheduled retraining, runs from the CLI or UI,
backfills, and retrainings for drift or model age search again. A past search stands
in only while it is recent (``training.reuse_search_hours``), was run on the same
candidates, task, metric, folds and schema contract, and saw at least half as many
training rows: settings tuned on a sample less than half the size are not trusted for
this one. The gate still scores the refit challenger on the holdout against the
baseline and the champion.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ml_pipeline.config import CandidateConfig, ModelingConfig
from ml_pipeline.core.names import (
    NEW_PARTITIONS_REASON,
    SEARCH_CHOICE_TAG,
    SEARCH_KEY_TAG,
    SEARCH_ROWS_TAG,
)

MIN_ROWS_SHARE = 0.5


@dataclass(frozen=True)
class PastSearch:
    run_id: str
    started: float  # Unix seconds
    rows: int
    choice: CandidateConfig


def search_key(modeling: ModelingConfig, contract_version: str, metric: str) -> str:
    """What a search's choice depends on besides the rows: equal keys, comparable searches."""
    dataset, training = modeling.dataset, modeling.training
    described = {
        "candidates": [candidate.model_dump(mode="json") for candidate in training.candidates],
        "task": dataset.task,
        "target": dataset.target,
        "metric": metric,
        "timestamp_column": dataset.timestamp_column,
        "ignored_columns": sorted(dataset.ignored_columns),
        "cv_folds": training.cv_folds,
        "search_iterations": training.search_iterations,
        "random_seed": training.random_seed,
        "balanced_class_weights": training.try_balanced_class_weights,
        "missing": modeling.cleaning.missing,
        "contract": contract_version,
    }
    encoded = json.dumps(described, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:20]


def search_tags(key: str, choice: CandidateConfig, rows: int) -> dict[str, str]:
    return {
        SEARCH_KEY_TAG: key,
        SEARCH_CHOICE_TAG: choice.model_dump_json(),
        SEARCH_ROWS_TAG: str(rows),
    }


def past_search(run_id: str, started_ms: int, tags: dict[str, str]) -> PastSearch:
    """A search from its MLflow run's tags (as :func:`search_tags` wrote them)."""
    return PastSearch(
        run_id=run_id,
        started=started_ms / 1000,
        rows=int(tags[SEARCH_ROWS_TAG]),
        choice=CandidateConfig.model_validate_json(tags[SEARCH_CHOICE_TAG]),
    )


def only_new_partitions(trigger: str | None) -> bool:
    """Whether the run's trigger tag names new partitions and nothing else."""
    reasons = [reason for reason in (trigger or "").split(",") if reason]
    return bool(reasons) and all(
        reason.split(":", 1)[0] == NEW_PARTITIONS_REASON for reason in reasons
    )


def reuse_refusal(
    past: PastSearch | None, now: float, max_age_hours: float | None, rows: int
) -> str | None:
    """Why ``past`` cannot stand in for a search on ``rows`` training rows; None if it can."""
    if max_age_hours is None:
        return "training.reuse_search_hours is null"
    if past is None:
        return "no finished search on these candidates, task, metric and contract"
    age_hours = (now - past.started) / 3600
    if age_hours > max_age_hours:
        return f"the last search is {age_hours:.1f} h old, over {max_age_hours:g} h"
    if past.rows < MIN_ROWS_SHARE * rows:
        return f"the last search saw {past.rows} training rows, under half of {rows}"
    return None
