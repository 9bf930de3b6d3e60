"""Holdout metrics, the trivial baseline, and which direction is better."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.dummy import DummyRegressor

LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


class TrivialClassifier:
    """Class priors as probabilities; as labels, the majority class, or for macro F1
    labels drawn at the class rates.

    Always answering the majority scores a macro F1 of about 1/K times its own share,
    which anything that names the minority now and then beats, signal or not; drawing at
    the class rates scores 1/K whatever the imbalance, the fair trivial bar for macro F1.
    The draws are seeded by the number of rows, so a holdout always gets the same ones.
    """

    def __init__(self, drawn: bool):
        self.drawn = drawn

    def fit(self, y: pd.Series) -> TrivialClassifier:
        counts = pd.Series(y).value_counts().sort_index()
        self.classes_ = counts.index.to_numpy()
        self.priors_ = (counts / counts.sum()).to_numpy()
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        return np.tile(self.priors_, (len(X), 1))

    def predict(self, X: object) -> np.ndarray:
        if not self.drawn:
            return np.repeat(self.classes_[np.argmax(self.priors_)], len(X))
        rng = np.random.default_rng(len(X))
        return rng.choice(self.classes_, size=len(X), p=self.priors_)


def fit_baseline(task: str, y: pd.Series, metric: str = "") -> object:
    """Predicts the training mean (regression), or the class priors (classification)
    with labels as :class:`TrivialClassifier` says for ``metric``."""
    if task == "regression":
        return DummyRegressor(strategy="mean").fit(np.zeros((len(y), 1)), y)
    return TrivialClassifier(drawn=metric == "f1_macro").fit(y)


def regression_metrics(y_true: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(metrics.root_mean_squared_error(y_true, predicted)),
        "mae": float(metrics.mean_absolute_error(y_true, predicted)),
        "r2": float(metrics.r2_score(y_true, predicted)),
    }


def aligned_probabilities(probabilities: np.ndarray, known: list, labels: list) -> np.ndarray:
    """Probability columns over ``labels``, zero for a label the model never saw.

    A model fitted on a fold (or a sample) that lacked a class has fewer columns than
    there are labels; scoring it against the full label set keeps every score defined.
    """
    if list(known) == list(labels):
        return probabilities
    aligned = np.zeros((len(probabilities), len(labels)))
    position = {label: i for i, label in enumerate(labels)}
    for column, label in enumerate(known):
        aligned[:, position[label]] = probabilities[:, column]
    return aligned


def macro_roc_auc(y_true: np.ndarray, probabilities: np.ndarray, labels: list) -> float | None:
    """One-vs-rest ROC AUC averaged over the labels present in ``y_true``; None when
    fewer than two labels are present, where AUC is undefined."""
    y_true = np.asarray(y_true)
    present = [i for i, label in enumerate(labels) if (y_true == label).any()]
    if len(present) < 2:
        return None
    if len(labels) == 2:
        return float(metrics.roc_auc_score(y_true == labels[1], probabilities[:, 1]))
    return float(
        np.mean([metrics.roc_auc_score(y_true == labels[i], probabilities[:, i]) for i in present])
    )


def classification_metrics(
    y_true: pd.Series, predicted: np.ndarray, probabilities: np.ndarray, classes: list
) -> dict[str, float]:
    """Accuracy and macro F1 on every row; log loss and ROC AUC on the rows whose label
    the model knows (a class first seen in the holdout has no probability column).

    ROC AUC averages the classes present in the holdout; with a single class present it
    is undefined and left out (:func:`unmeasured` says why).
    """
    scores = {
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "f1_macro": float(metrics.f1_score(y_true, predicted, average="macro", zero_division=0)),
    }
    known = np.asarray(pd.Series(y_true).isin(classes))
    y_known, p_known = np.asarray(y_true)[known], probabilities[known]
    if len(y_known):
        scores["log_loss"] = float(metrics.log_loss(y_known, p_known, labels=classes))
    auc = macro_roc_auc(y_known, p_known, classes)
    if auc is not None:
        scores["roc_auc"] = auc
    return scores


def unmeasured(y_true: pd.Series, classes: list) -> dict[str, str]:
    """Why a classification metric is missing from :func:`classification_metrics`."""
    known = pd.Series(y_true)[pd.Series(y_true).isin(classes).to_numpy()]
    reasons = {}
    if known.empty:
        reasons["log_loss"] = "no holdout row has a class the model was trained on"
    if known.nunique() < 2:
        reasons["roc_auc"] = (
            f"the holdout's known rows hold {known.nunique()} class(es); AUC needs two"
        )
    return reasons


def per_class(y_true: pd.Series, predicted: np.ndarray, classes: list) -> list[dict[str, object]]:
    """Precision, recall and support of each class, the view macro F1 averages away."""
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, predicted, labels=classes, zero_division=0
    )
    return [
        {
            "class": str(label),
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(n),
        }
        for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
    ]


def confusion(y_true: pd.Series, predicted: np.ndarray, classes: list) -> list[list[int]]:
    """Counts over ``classes``; rows of a class the model never saw are not counted."""
    return metrics.confusion_matrix(y_true, predicted, labels=classes).tolist()


def score(model: object, X: pd.DataFrame, y: pd.Series, task: str) -> dict[str, float]:
    """Holdout metrics of any fitted estimator with ``predict`` (and ``predict_proba``)."""
    predicted = model.predict(X)
    if task == "regression":
        return regression_metrics(y, predicted)
    classes = list(model.classes_)
    return classification_metrics(y, predicted, model.predict_proba(X), classes)
