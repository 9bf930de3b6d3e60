"""Paired bootstrap: is one model's gain over another on the same rows larger than its noise?

Both models are scored on the same resamples of the same rows, so the noise of the
rows themselves cancels and what is left is the uncertainty of the difference. Each
resample weighs every row by a Poisson(1) draw (the Poisson bootstrap), which lets a
metric be computed for a hundred resamples at once with one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.core.model.evaluation import (
    aligned_probabilities,
    classification_metrics,
    higher_is_better,
    macro_roc_auc,
    regression_metrics,
)

CHUNK = 100
# ROC AUC sorts every resample; fewer rounds keep it to about a second on 50,000 rows.
AUC_ROUNDS = 200


@dataclass(frozen=True)
class Predictions:
    """What a model said about the rows: values, labels and, for classifiers, probabilities
    over ``classes``."""

    values: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list | None = None

    @classmethod
    def of(cls, model: object, X: pd.DataFrame, labels: list | None = None) -> Predictions:
        values = np.asarray(model.predict(X))
        if labels is None or not hasattr(model, "predict_proba"):
            return cls(values)
        probabilities = aligned_probabilities(
            np.asarray(model.predict_proba(X)), list(model.classes_), labels
        )
        return cls(values, probabilities, labels)

    def scores(self, y_true: pd.Series, task: str, model_classes: list | None = None) -> dict:
        """The holdout metrics :func:`evaluation.score` computes, from these predictions
        instead of predicting again; ``model_classes`` are the classifier's own classes."""
        if task == "regression":
            return regression_metrics(y_true, self.values)
        if self.probabilities is None or self.classes is None or model_classes is None:
            raise ValueError("classification scores need probabilities and the model's classes")
        columns = [self.classes.index(label) for label in model_classes]
        return classification_metrics(
            y_true, self.values, self.probabilities[:, columns], list(model_classes)
        )


def _weighted(metric: str, y: np.ndarray, p: Predictions, weights: np.ndarray) -> np.ndarray:
    """``metric`` under each row of ``weights`` (resamples x rows)."""
    total = weights.sum(axis=1)
    if metric in ("rmse", "mae", "r2"):
        error = p.values.astype("float64") - y.astype("float64")
        if metric == "mae":
            return weights @ np.abs(error) / total
        squared = weights @ (error**2) / total
        if metric == "rmse":
            return np.sqrt(squared)
        mean = weights @ y / total
        spread = weights @ (y.astype("float64") ** 2) / total - mean**2
        return 1 - squared / np.where(spread > 0, spread, np.nan)
    if metric == "accuracy":
        return weights @ (p.values == y).astype("float64") / total
    if metric == "f1_macro":
        return _weighted_f1(y, p.values, weights)
    if metric == "log_loss":
        index = {label: i for i, label in enumerate(p.classes)}
        rows = np.array([index.get(label, -1) for label in y])
        chosen = np.where(rows >= 0, p.probabilities[np.arange(len(y)), rows.clip(0)], 0.0)
        loss = -np.log(np.clip(chosen, 1e-15, 1))
        return weights @ loss / total
    if metric == "roc_auc":
        return np.array([_weighted_auc(y, p, w) for w in weights])
    raise ValueError(f"no bootstrap for metric {metric!r}")


def _weighted_f1(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro F1 over the labels present in the truth or the predictions of each resample."""
    labels = np.union1d(y.astype(str), predicted.astype(str))
    y, predicted = y.astype(str), predicted.astype(str)
    scores, present = [], []
    for label in labels:
        truth, said = y == label, predicted == label
        tp = weights @ (truth & said)
        wrong = weights @ (truth ^ said)
        scores.append(
            np.divide(2 * tp, 2 * tp + wrong, out=np.zeros_like(tp), where=tp + wrong > 0)
        )
        present.append(tp + wrong > 0)
    scores, present = np.array(scores), np.array(present)
    return scores.sum(axis=0) / np.maximum(present.sum(axis=0), 1)


def _weighted_auc(y: np.ndarray, p: Predictions, weights: np.ndarray) -> float:
    rows = weights > 0
    repeated = np.repeat(np.flatnonzero(rows), weights[rows].astype(int))
    auc = macro_roc_auc(y[repeated], p.probabilities[repeated], p.classes)
    return np.nan if auc is None else auc


def score_of(metric: str, y: pd.Series, predictions: Predictions) -> float:
    """``metric`` on every row once, computed as the bootstrap computes it."""
    truth = np.asarray(y)
    return float(_weighted(metric, truth, predictions, np.ones((1, len(truth))))[0])


def gain_bounds(
    y: pd.Series,
    challenger: Predictions,
    other: Predictions,
    metric: str,
    confidence: float,
    rounds: int,
    seed: int,
) -> float:
    """The lower ``confidence`` bound of the challenger's gain over ``other`` in
    ``metric`` (positive: better, whichever direction the metric runs)."""
    truth = np.asarray(y)
    rng = np.random.default_rng(seed)
    rounds = min(rounds, AUC_ROUNDS) if metric == "roc_auc" else rounds
    gains = []
    for start in range(0, rounds, CHUNK):
        weights = rng.poisson(1.0, (min(CHUNK, rounds - start), len(truth))).astype("float64")
        difference = _weighted(metric, truth, challenger, weights) - _weighted(
            metric, truth, other, weights
        )
        gains.append(difference if higher_is_better(metric) else -difference)
    combined = np.concatenate(gains)
    combined = combined[np.isfinite(combined)]
    if combined.size == 0:
        return float("nan")
    return float(np.quantile(combined, 1 - confidence))


def score_bound(
    y: pd.Series, predictions: Predictions, metric: str, confidence: float, rounds: int, seed: int
) -> float:
    """The best ``metric`` the rows let the model claim: its bootstrap quantile on the
    better side, passed by only ``1 - confidence`` of resamples (the score itself at 0)."""
    if confidence <= 0 or not len(y):
        return score_of(metric, y, predictions)
    combined = _resampled(y, predictions, metric, rounds, seed)
    if combined.size == 0:
        return float("nan")
    return float(np.quantile(combined, confidence if higher_is_better(metric) else 1 - confidence))


def score_interval(
    y: pd.Series, predictions: Predictions, metric: str, level: float, rounds: int, seed: int
) -> tuple[float, float]:
    """The central ``level`` bootstrap interval of ``metric`` over the rows."""
    combined = _resampled(y, predictions, metric, rounds, seed) if len(y) else np.array([])
    if combined.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(combined, [tail, 1 - tail])
    return float(low), float(high)


def _resampled(
    y: pd.Series, predictions: Predictions, metric: str, rounds: int, seed: int
) -> np.ndarray:
    """``metric`` on ``rounds`` Poisson resamples of the rows (the finite ones)."""
    truth = np.asarray(y)
    rng = np.random.default_rng(seed)
    rounds = min(rounds, AUC_ROUNDS) if metric == "roc_auc" else rounds
    samples = []
    for start in range(0, rounds, CHUNK):
        weights = rng.poisson(1.0, (min(CHUNK, rounds - start), len(truth))).astype("float64")
        samples.append(_weighted(metric, truth, predictions, weights))
    combined = np.concatenate(samples)
    return combined[np.isfinite(combined)]
