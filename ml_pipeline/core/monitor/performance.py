"""The champion measured on each new labelled partition before any training reads it
(prequential evaluation: rows it never saw), and whether its metric has decayed.

The rows a partition brings are scored by the champion of that moment and kept, one
table per partition: truth, prediction and, for a classifier, a probability per label.
Decay compares the champion's metric on its latest partitions with the holdout score it
was promoted on, beyond the bootstrap noise of those rows, as the gate judges a gain.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.core.model.bootstrap import Predictions, score_bound, score_of
from ml_pipeline.core.model.evaluation import higher_is_better

TRUTH = "truth"
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability::"  # then the label, as JSON


class NotMeasured(ValueError):
    """A partition the champion cannot be measured on (no labelled rows, say); routine."""


@dataclass(frozen=True)
class PartitionScore:
    rows: int
    metrics: dict[str, float]
    scored: pd.DataFrame  # what was said about each labelled row, kept for decay


def _label_key(label: object) -> str:
    return json.dumps(label.item() if isinstance(label, np.generic) else label)


def score_partition(model: object, table: pd.DataFrame, target: str, task: str) -> PartitionScore:
    """``model`` on the labelled rows of one partition's feature table."""
    if target not in table.columns:
        raise NotMeasured(f"the partition has no {target!r} column")
    labelled = table[table[target].notna()]
    if labelled.empty:
        raise NotMeasured(f"no row of the partition has a {target!r} value")
    X, y = labelled.drop(columns=[target]), labelled[target]
    scored = pd.DataFrame({TRUTH: y.to_numpy()})
    known = list(model.classes_) if task == "classification" else None
    labels = sorted(set(known) | set(y), key=str) if known is not None else None
    try:
        predictions = Predictions.of(model, X, labels)
    except (KeyError, TypeError, ValueError) as error:
        # Rows this version cannot read (a column it needs is gone, say): said, and the
        # file's ingest goes on.
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise NotMeasured(f"the model cannot score these rows: {first}") from None
    scored[PREDICTION] = predictions.values
    if known is None:
        return PartitionScore(len(y), predictions.scores(y, task), scored)
    for index, label in enumerate(labels):
        scored[PROBABILITY_PREFIX + _label_key(label)] = predictions.probabilities[:, index]
    return PartitionScore(len(y), predictions.scores(y, task, known), scored)


def pooled(frames: Sequence[pd.DataFrame]) -> tuple[pd.Series, Predictions]:
    """Scored rows of several partitions as one set of predictions (a label one of them
    never saw has probability 0 there)."""
    rows = pd.concat(frames, ignore_index=True)
    columns = sorted(c for c in rows.columns if c.startswith(PROBABILITY_PREFIX))
    if not columns:
        return rows[TRUTH], Predictions(rows[PREDICTION].to_numpy())
    labels = [json.loads(c.removeprefix(PROBABILITY_PREFIX)) for c in columns]
    probabilities = rows[columns].fillna(0.0).to_numpy(dtype="float64")
    return rows[TRUTH], Predictions(rows[PREDICTION].to_numpy(), probabilities, labels)


@dataclass(frozen=True)
class Decay:
    """The champion's metric on its latest partitions against its holdout score."""

    metric: str
    validation: float
    recent: float
    bound: float  # the best the recent rows let the champion claim
    rows: int
    partitions: int
    margin: float

    @property
    def worse_by(self) -> float:
        """How much worse ``bound`` is than the holdout score, as a share of it (positive:
        worse, whichever direction the metric runs)."""
        gap = (
            self.validation - self.bound
            if higher_is_better(self.metric)
            else (self.bound - self.validation)
        )
        return gap / abs(self.validation) if self.validation else gap

    @property
    def decayed(self) -> bool:
        return bool(np.isfinite(self.bound)) and self.worse_by > self.margin

    def sentence(self) -> str:
        said = (
            f"{self.metric} {self.recent:.4g} on the latest {self.rows} rows "
            f"({self.partitions} partition(s)) vs {self.validation:.4g} at validation"
        )
        if self.decayed:
            return f"decayed: {said}; even at its best ({self.bound:.4g}) {self.worse_by:+.1%}"
        return f"no decay: {said} (margin {self.margin:.0%}, within the noise or the margin)"


def assess_decay(
    frames: Sequence[pd.DataFrame],
    metric: str,
    validation: float,
    margin: float,
    confidence: float,
    rounds: int,
    seed: int,
) -> Decay:
    """Whether the rows of ``frames`` (partitions one version scored) show it worse than
    its holdout score ``validation`` by more than ``margin``, beyond their noise."""
    y, predictions = pooled(frames)
    recent = score_of(metric, y, predictions)
    bound = score_bound(y, predictions, metric, confidence, rounds, seed)
    return Decay(metric, validation, recent, bound, len(y), len(frames), margin)


def history_plot(points: Sequence[tuple[float, str, float]], metric: str) -> bytes:
    """``metric`` of each scored partition over time (epoch seconds), a line per version."""
    from ml_pipeline.core.images import png, pyplot

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 3))
    for version in sorted({v for _, v, _ in points}, key=lambda v: int(v) if v.isdigit() else 0):
        mine = sorted((t, score) for t, v, score in points if v == version)
        times = pd.to_datetime([t for t, _ in mine], unit="s")
        axis.plot(times, [score for _, score in mine], marker="o", label=f"v{version}")
    axis.set_ylabel(metric)
    axis.set_title(f"champion {metric} on each new partition, before training")
    axis.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    return png(figure)
