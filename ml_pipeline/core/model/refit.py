"""Refit the promoted configuration on every landed row before it is deployed.

The challenger was fitted without its holdout, the newest rows when there is a
timestamp: the rows most like what the model scores next. Once the gate has judged
the challenger on that holdout, the same configuration (estimator and tuned
parameters) is fitted again on a sample of all rows, under the same row cap, and
that refit is what gets registered and exported. Its scores on its own training rows
are in-sample and labelled so; the decision rests on the holdout scores alone.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_pipeline.config import CandidateConfig, ModelingConfig
from ml_pipeline.core import names, tracking
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.model import evaluation
from ml_pipeline.core.model.blame import content_digest
from ml_pipeline.core.model.challenger import TrainingOutcome, fingerprint, fit_fixed

PARTITIONS_ARTIFACT = "training_partitions.json"
# Per refit training run, the content hash of every row the refit trained on.
SEEN_ROWS_TABLE = "seen_rows"


@dataclass
class DeployCandidate:
    """The model that will be registered if the gate promotes: the refit or the challenger."""

    model_uri: str | None
    refit: bool
    rows: int
    data_fingerprint: str
    model_fingerprint: str
    # The newest timestamp among the rows it trained on, when the data has one.
    training_cutoff: str | None = None
    in_sample: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    # Each training partition's content digest when the refit read it.
    digests: dict[str, str] = field(default_factory=dict)


def model_fingerprint(chosen: CandidateConfig | None, data_fingerprint: str) -> str:
    """Same configuration on the same rows: the same model, whatever run produced it."""
    described = {
        "estimator": chosen.estimator if chosen else None,
        "params": {k: repr(v) for k, v in sorted((chosen.params if chosen else {}).items())},
        "data": data_fingerprint,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def all_rows_sample(
    outcome: TrainingOutcome, warehouse: Warehouse, modeling: ModelingConfig
) -> pd.DataFrame:
    """A sample of every row of the training partitions, the holdout included, capped
    like the training sample and drawn with the same seed."""
    sample = warehouse.sample(
        names.FEATURES,
        outcome.partitions,
        modeling.training.sample_rows,
        modeling.training.random_seed,
        columns=outcome.columns,
        kinds=outcome.kinds,
    )
    column = modeling.dataset.timestamp_column
    if column:
        sample = sample.sort_values(column, kind="stable").reset_index(drop=True)
    return sample


def newest_timestamp(frame: pd.DataFrame, column: str | None) -> str | None:
    if not column or frame.empty:
        return None
    newest = pd.to_datetime(frame[column], errors="coerce").max()
    return None if pd.isna(newest) else newest.isoformat()


def plan(outcome: TrainingOutcome, warehouse: Warehouse, modeling: ModelingConfig):
    """What would be deployed: the rows of the refit (None without refit) and its identity."""
    if not modeling.training.refit_on_all_data or outcome.chosen is None:
        return None, DeployCandidate(
            model_uri=outcome.model_uri,
            refit=False,
            rows=outcome.train_rows,
            data_fingerprint=outcome.data_fingerprint,
            model_fingerprint=model_fingerprint(outcome.chosen, outcome.data_fingerprint),
        )
    rows = all_rows_sample(outcome, warehouse, modeling)
    data_fingerprint = fingerprint(rows)
    return rows, DeployCandidate(
        model_uri=None,
        refit=True,
        rows=len(rows),
        data_fingerprint=data_fingerprint,
        model_fingerprint=model_fingerprint(outcome.chosen, data_fingerprint),
        training_cutoff=newest_timestamp(rows, modeling.dataset.timestamp_column),
        digests={
            key: content_digest(warehouse.footer(names.FEATURES, key)) for key in outcome.partitions
        },
    )


def refit_configuration(chosen: CandidateConfig, challenger: object) -> CandidateConfig:
    """The chosen configuration as the refit fits it.

    Boosting that stopped early refits with the rounds it stopped at and no early
    stopping: every row trains (none held back to watch the loss), the result does not
    depend on which tenth was held back, and no patience rounds are spent on a fit whose
    length is already known.
    """
    steps = getattr(challenger, "named_steps", {})
    estimator = steps.get("model")
    if not getattr(estimator, "do_early_stopping_", False):
        return chosen
    rounds = int(estimator.n_iter_)
    return chosen.model_copy(
        update={"params": {**chosen.params, "early_stopping": False, "max_iter": rounds}}
    )


def refit(
    outcome: TrainingOutcome,
    challenger: object,
    rows: pd.DataFrame,
    candidate: DeployCandidate,
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
) -> object:
    """Fit the chosen configuration on ``rows``, log it to the training run beside the
    ``challenger``, and fill in ``candidate``; returns the fitted pipeline."""
    import mlflow

    started = time.perf_counter()
    dataset = modeling.dataset
    X, y = rows.drop(columns=[dataset.target]), rows[dataset.target]
    chosen = refit_configuration(outcome.chosen, challenger)
    model = fit_fixed(modeling, chosen, X, y)
    candidate.in_sample = evaluation.score(model, X, y, dataset.task)
    store.activate()
    with mlflow.start_run(run_id=outcome.mlflow_run_id):
        signature = tracking.signature_for(X, model.predict(X.head(50)), dataset.ignored_columns)
        candidate.model_uri = tracking.log_sklearn_model(
            model, signature, tracking.as_landed(X.head(5)), name="refit_model"
        )
        mlflow.log_metrics({f"refit_in_sample_{k}": v for k, v in candidate.in_sample.items()})
        changed = {k: v for k, v in chosen.params.items() if outcome.chosen.params.get(k) != v}
        mlflow.log_params(
            {"refit_rows": len(rows), **{f"refit_{k}": v for k, v in changed.items()}}
        )
    candidate.seconds = time.perf_counter() - started
    return model


def log_training_partitions(
    store: tracking.MlflowStore, run_id: str, partitions: list[str], digests: dict[str, str]
) -> None:
    """Record every partition the deployed model trained on, with its content digest: the
    next gate compares it with a challenger only on rows it did not train on."""
    import mlflow

    store.activate()
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict({"partitions": partitions, "digests": digests}, PARTITIONS_ARTIFACT)


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """Each row's identity by content, whatever the order of the columns."""
    return pd.util.hash_pandas_object(frame[sorted(frame.columns)], index=False)


def record_seen_rows(warehouse: Warehouse, run_id: str, rows: pd.DataFrame) -> None:
    """Keep the content hash of every row the refit of training run ``run_id`` fitted."""
    hashes = np.unique(row_hashes(rows).to_numpy())
    warehouse.write(SEEN_ROWS_TABLE, run_id, pd.DataFrame({"row_hash": hashes}))


def prune_seen_rows(warehouse: Warehouse, keep: set[str]) -> None:
    for key in warehouse.partitions(SEEN_ROWS_TABLE):
        if key not in keep:
            warehouse.drop(SEEN_ROWS_TABLE, key)


@dataclass(frozen=True)
class Seen:
    """What a refit champion trained on: its partitions with their content digests (None
    when recorded before digests were), and its rows' hashes (None when not kept)."""

    partitions: dict[str, str | None]
    rows: np.ndarray | None

    def changed(self, key: str, digest: str) -> bool:
        """Whether partition ``key`` holds rows the champion may not have seen: its
        content changed since, and the rows it saw are known (else it counts as seen)."""
        recorded = self.partitions[key]
        return self.rows is not None and recorded is not None and recorded != digest

    def unseen_rows(self, frame: pd.DataFrame) -> pd.Series:
        if self.rows is None:
            return pd.Series(True, index=frame.index)
        return ~row_hashes(frame).isin(self.rows)


def seen_by(store: tracking.MlflowStore, warehouse: Warehouse, run_id: str) -> Seen:
    text = tracking.run_text(store, run_id, PARTITIONS_ARTIFACT)
    if text is None:
        raise RuntimeError(
            f"training run {run_id} of a refit champion lacks {PARTITIONS_ARTIFACT}: "
            "the rows it saw cannot be told apart; promote with `ml-pipeline run --promote force`"
        )
    logged = json.loads(text)
    digests = logged.get("digests", {})
    rows = None
    if run_id in warehouse.partitions(SEEN_ROWS_TABLE):
        rows = warehouse.read(SEEN_ROWS_TABLE, run_id)["row_hash"].to_numpy()
    return Seen({key: digests.get(key) for key in logged["partitions"]}, rows)
