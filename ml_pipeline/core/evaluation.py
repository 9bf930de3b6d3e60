"""Holdout metrics, the trivial baseline, and which direction is better."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.dummy import DummyClassifier, DummyRegressor

LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def fit_baseline(task: str, y: pd.Series) -> DummyRegressor | DummyClassifier:
    """Predicts the training mean (regression) or the class priors (classification)."""
    baseline = (
        DummyRegressor(strategy="mean")
        if task == "regression"
        else DummyClassifier(strategy="prior")
    )
    return baseline.fit(np.zeros((len(y), 1)), y)


def regression_metrics(y_true: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(metrics.root_mean_squared_error(y_true, predicted)),
        "mae": float(metrics.mean_absolute_error(y_true, predicted)),
        "r2": float(metrics.r2_score(y_true, predicted)),
    }


def classification_metrics(
    y_true: pd.Series, predicted: np.ndarray, probabilities: np.ndarray, classes: list
) -> dict[str, float]:
    """Accuracy and macro F1 on every row; log loss and ROC AUC on the rows whose label
    the model knows (a class first seen in the holdout has no probability column)."""
    scores = {
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "f1_macro": float(metrics.f1_score(y_true, predicted, average="macro", zero_division=0)),
    }
    known = np.asarray(pd.Series(y_true).isin(classes))
    y_known, p_known = np.asarray(y_true)[known], probabilities[known]
    if len(y_known):
        scores["log_loss"] = float(metrics.log_loss(y_known, p_known, labels=classes))
    if len(set(y_known)) > 1:
        if len(classes) == 2:
            scores["roc_auc"] = float(metrics.roc_auc_score(y_known == classes[1], p_known[:, 1]))
        elif set(y_known) == set(classes):
            scores["roc_auc"] = float(
                metrics.roc_auc_score(y_known, p_known, multi_class="ovr", labels=classes)
            )
    return scores


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
