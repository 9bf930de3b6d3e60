"""Holdout diagnostics: permutation importance and the plots that explain a model's errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.core import images
from ml_pipeline.core.model.training import cv_scorer


def permutation_importances(
    model: object, X: pd.DataFrame, y: pd.Series, metric: str, seed: int, max_rows: int = 2000
) -> pd.Series:
    """How much the holdout score drops when each input column the model reads is shuffled.

    Identifier and dropped columns are accepted as input but never read; listing them
    at zero would only crowd the plot.
    """
    from sklearn.inspection import permutation_importance

    read = set(model_inputs(model))
    X = X[[c for c in X.columns if c in read]]
    if len(X) > max_rows:
        X = X.sample(n=max_rows, random_state=seed)
        y = y.loc[X.index]
    result = permutation_importance(
        model,
        X,
        y,
        scoring=cv_scorer(metric, y),
        n_repeats=5,
        random_state=seed,
        n_jobs=1,
    )
    importances = pd.Series(result.importances_mean, index=X.columns)
    return importances.sort_values(ascending=False)


def model_inputs(model: object) -> list[str]:
    """The raw columns a trained pipeline reads (its feature step's required columns)."""
    steps = getattr(model, "named_steps", {})
    builder = steps.get("features")
    return list(builder.required_columns) if builder is not None else list(model.feature_names_in_)


def comparison_plot(scores: dict[str, dict[str, float]], metric: str, rows: int) -> bytes:
    """One bar per model for the promotion metric, all on the same holdout rows."""
    plt = images.pyplot()
    names = list(scores)
    values = [scores[name].get(metric, np.nan) for name in names]
    figure, axis = plt.subplots(figsize=(5, 0.5 * len(names) + 1.2))
    axis.barh(names[::-1], values[::-1], color=["#888"] * (len(names) - 1) + ["#1f77b4"])
    for position, value in enumerate(values[::-1]):
        axis.text(value, position, f" {value:.4g}", va="center", fontsize=8)
    axis.set_xlabel(f"holdout {metric} ({rows} rows)")
    axis.set_title("Challenger against the trivial baseline and a default HGB", fontsize=10)
    return images.png(figure)


def importance_plot(importances: pd.Series, top: int = 15) -> bytes:
    plt = images.pyplot()
    shown = importances.head(top)[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.3 * len(shown) + 1))
    axis.barh(shown.index, shown.to_numpy(), color="#4c72b0")
    axis.set_xlabel("drop in holdout score when shuffled")
    axis.set_title("Permutation importance (holdout)")
    return images.png(figure)


def residual_plot(y: pd.Series, predicted: np.ndarray) -> bytes:
    plt = images.pyplot()
    residuals = np.asarray(y) - predicted
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.scatter(predicted, residuals, s=4, alpha=0.3, color="#4c72b0")
    left.axhline(0, color="black", linewidth=0.8)
    left.set_xlabel("predicted")
    left.set_ylabel("actual - predicted")
    left.set_title("Residuals against predictions")
    right.hist(residuals, bins=40, color="#55a868")
    right.set_title("Residual distribution")
    return images.png(figure)


def confusion_plot(matrix: list[list[int]], classes: list) -> bytes:
    plt = images.pyplot()
    values = np.asarray(matrix)
    figure, axis = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    axis.imshow(values, cmap="Blues")
    axis.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=45)
    axis.set_yticks(range(len(classes)), [str(c) for c in classes])
    dark = values.max() / 2
    for (row, column), count in np.ndenumerate(values):
        color = "white" if count > dark else "black"
        axis.text(column, row, str(count), ha="center", va="center", fontsize=9, color=color)
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    axis.set_title("Confusion matrix (holdout)")
    return images.png(figure)


def roc_plot(y: pd.Series, probabilities: np.ndarray, classes: list) -> bytes:
    from sklearn.metrics import roc_curve

    plt = images.pyplot()
    figure, axis = plt.subplots(figsize=(5, 4))
    shown = classes[1:] if len(classes) == 2 else classes
    for label in shown:
        index = classes.index(label)
        fpr, tpr, _ = roc_curve(np.asarray(y) == label, probabilities[:, index])
        axis.plot(fpr, tpr, label=f"{label} vs rest")
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title("ROC (holdout, one-vs-rest)")
    axis.legend(fontsize=8)
    return images.png(figure)
