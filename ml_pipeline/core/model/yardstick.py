"""Two models on the same rows, and the default HistGradientBoosting every training fits
beside its search: the yardstick deployed in the challenger's place when it scores better
on the holdout beyond the noise, so no model worse than one already scored is deployed."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ml_pipeline.config import ModelingConfig
from ml_pipeline.core.model import bootstrap, promotion
from ml_pipeline.core.model.bootstrap import Predictions

# How the summary, the metadata and the model card name the yardstick.
DEFAULT_HGB = "default HGB"


def paired(
    modeling: ModelingConfig, y: pd.Series, challenger: Predictions, other: Predictions, metric: str
) -> promotion.Paired:
    """``challenger`` against ``other`` on the same rows ``y``, with the lower bound of the
    challenger's gain from the paired bootstrap when the promotion policy asks for it."""
    scores = [bootstrap.score_of(metric, y, predictions) for predictions in (challenger, other)]
    low = None
    if modeling.promotion.confidence > 0 and len(y):
        low = bootstrap.gain_bounds(
            y,
            challenger,
            other,
            metric,
            modeling.promotion.confidence,
            modeling.promotion.bootstrap_rounds,
            modeling.training.random_seed,
        )
    return promotion.Paired(len(y), scores[0], scores[1], low)


@dataclass(frozen=True)
class Verdict:
    """Whether the yardstick takes the challenger's place, and why, in one line."""

    replaces: bool
    reason: str


def judge(
    modeling: ModelingConfig,
    challenger_name: str,
    challenger: object,
    reference: object,
    holdout: pd.DataFrame,
    metric: str,
) -> Verdict:
    """The reference against the searched challenger on the same holdout rows, by the rule
    the gate applies to a challenger against its champion: a gain larger than
    ``promotion.min_improvement`` and, when the bootstrap is on, larger than the noise."""
    target = modeling.dataset.target
    X, y = holdout.drop(columns=[target]), holdout[target]
    labels = None
    if modeling.dataset.task == "classification":
        labels = sorted(set(challenger.classes_) | set(reference.classes_) | set(y.dropna()))
    said_by = {
        name: Predictions.of(model, X, labels)
        for name, model in (("reference", reference), ("challenger", challenger))
    }
    versus = paired(modeling, y, said_by["reference"], said_by["challenger"], metric)
    replaces, gain = promotion.clearly_better(metric, versus, modeling.promotion.min_improvement)
    said = (
        f"{DEFAULT_HGB} {metric} {versus.challenger:.4g} vs {challenger_name} "
        f"{versus.other:.4g} on {versus.rows} holdout rows ({gain:+.2%}"
        f"{versus.noise_note(modeling.promotion.confidence)})"
    )
    if replaces:
        return Verdict(True, f"{DEFAULT_HGB} deployed in place of {challenger_name}: {said}")
    return Verdict(False, f"{challenger_name} kept: {said}")
