"""What the served traffic says about the models: live metrics once labels arrive, the
champion's decay on them, and how often a shadow version agrees with the champion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from ml_pipeline.core.monitor.live import (
    LabelSet,
    LiveJoin,
    LiveScore,
    agreement,
    join_labels,
    live_scores,
    served_rows,
    version_rows,
)
from ml_pipeline.core.monitor.performance import Decay, assess_decay
from ml_pipeline.core.monitor.prediction_log import SHADOW_ROLE


@dataclass(frozen=True)
class DecayRule:
    """The retraining policy's decay rule, as applied to served rows."""

    metric: str
    margin: float | None
    min_rows: int
    confidence: float
    rounds: int
    seed: int


@dataclass(frozen=True)
class ShadowAgreement:
    version: str
    rows: int
    share: float | None


@dataclass
class ServedQuality:
    join: LiveJoin
    scores: list[LiveScore]
    champion: str | None
    decay: Decay | None = None
    decay_unjudged: str | None = None
    shadows: list[ShadowAgreement] = field(default_factory=list)

    def figures(self) -> dict[str, object]:
        found: dict[str, object] = dict(self.join.figures())
        if self.join.errors:
            found["unreadable_label_files"] = "; ".join(self.join.errors)
        found["served_decay_check"] = (
            self.decay.sentence() if self.decay is not None else self.decay_unjudged
        )
        for shadow in self.shadows:
            key = f"shadow_v{shadow.version}_agreement"
            found[key] = (
                round(shadow.share, 4) if shadow.share is not None else "no row scored by both"
            )
            found[f"shadow_v{shadow.version}_rows"] = shadow.rows
        return found


def served_quality(
    log: pd.DataFrame,
    labels: LabelSet,
    task: str,
    champion: str | None,
    validation: float | None,
    rule: DecayRule,
    agreement_tolerance: float,
    judged_since: dt.datetime | None = None,
) -> ServedQuality:
    """Labels joined to the logged rows, each version's live metric, the champion's decay
    on its labelled served rows and each shadow's agreement with it.

    Decay is judged on rows served at ``judged_since`` or later (the last training): rows
    a training already answered do not call for the next one."""
    served = served_rows(log, task)
    join = join_labels(labels, served)
    scores = live_scores(join, rule.metric, rule.confidence, rule.rounds, rule.seed)
    quality = ServedQuality(join, scores, champion)
    if champion is not None:
        shadows = served.loc[served["role"] == SHADOW_ROLE, "model_version"].unique()
        quality.shadows = [
            ShadowAgreement(str(v), *agreement(served, champion, str(v), task, agreement_tolerance))
            for v in sorted(shadows)
        ]
    quality.decay, quality.decay_unjudged = _decay(join, champion, validation, rule, judged_since)
    return quality


def _decay(
    join: LiveJoin,
    champion: str | None,
    validation: float | None,
    rule: DecayRule,
    since: dt.datetime | None,
) -> tuple[Decay | None, str | None]:
    if rule.margin is None:
        return None, "off (retraining.decay_margin is null)"
    if champion is None or validation is None:
        return None, "not judged: no champion with a holdout score is deployed"
    rows = version_rows(join, champion, since=since)
    if len(rows) < rule.min_rows:
        after = " since the last training" if since is not None else ""
        return None, (
            f"not judged: {len(rows)} labelled served row(s) of v{champion}{after}, "
            f"{rule.min_rows} needed (retraining.decay_min_rows)"
        )
    decay = assess_decay(
        [rows], rule.metric, validation, rule.margin, rule.confidence, rule.rounds, rule.seed
    )
    return decay, None
