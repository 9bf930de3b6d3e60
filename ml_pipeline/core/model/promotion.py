"""Whether a challenger replaces the champion, judged on the same holdout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml_pipeline.core.model.evaluation import higher_is_better

if TYPE_CHECKING:
    from ml_pipeline.config import PromotionConfig


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def threshold_failures(scores: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    failures = []
    for metric, limit in thresholds.items():
        value = scores.get(metric)
        if value is None:
            failures.append(f"{metric} was not measured")
        elif higher_is_better(metric) and value < limit:
            failures.append(f"{metric} {value:.4g} is below the threshold {limit:.4g}")
        elif not higher_is_better(metric) and value > limit:
            failures.append(f"{metric} {value:.4g} is above the threshold {limit:.4g}")
    return failures


def relative_improvement(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is, as a fraction of the champion's score."""
    gain = challenger - champion if higher_is_better(metric) else champion - challenger
    return gain / max(abs(champion), 1e-12)


@dataclass(frozen=True)
class Paired:
    """The challenger against another model, scored on the same rows."""

    rows: int
    challenger: float
    other: float
    # Lower confidence bound of the challenger's gain (None: the test is off).
    gain_low: float | None = None

    def noise_note(self, confidence: float) -> str:
        if self.gain_low is None:
            return ""
        return f"; {confidence:.0%} lower bound of the gain {self.gain_low:+.4g}"


@dataclass(frozen=True)
class Rules:
    metric: str
    min_improvement: float
    thresholds: dict[str, float]
    min_gain_over_baseline: float
    min_compare_rows: int
    confidence: float

    @classmethod
    def from_config(cls, policy: PromotionConfig, metric: str) -> Rules:
        """The ``promotion`` section's rules, judged on ``metric`` (the task's default
        when the section names none)."""
        return cls(
            metric=metric,
            min_improvement=policy.min_improvement,
            thresholds=dict(policy.thresholds),
            min_gain_over_baseline=policy.min_gain_over_baseline,
            min_compare_rows=policy.min_compare_rows,
            confidence=policy.confidence,
        )


def _significant(paired: Paired) -> bool:
    return paired.gain_low is None or paired.gain_low > 0


def clearly_better(metric: str, paired: Paired, min_improvement: float) -> tuple[bool, float]:
    """Whether ``paired``'s challenger beats the other model by more than
    ``min_improvement`` (relative) and more than the noise; and the relative gain."""
    gain = relative_improvement(metric, paired.challenger, paired.other)
    return gain > min_improvement and _significant(paired), gain


def decide(
    challenger: dict[str, float],
    rules: Rules,
    versus_baseline: Paired,
    versus_champion: Paired | None,
    champion_version: str | None = None,
    override: str | None = None,
    repeat_of: str | None = None,
    champion_broken: str | None = None,
) -> Decision:
    """Promote only a challenger that meets the thresholds, beats the trivial baseline
    clearly, is not a model a person rolled back, and beats the champion on rows neither
    saw, by more than the margin and more than the noise.

    ``override`` is a person's call, ``"force"`` or ``"refuse"``, and wins over the rules.
    ``versus_champion`` is None when there is no champion to compare with, or it is
    broken (``champion_broken`` says how): a challenger that passes the other rules then
    replaces it, since a champion that cannot score cannot serve either.
    """
    if override == "force":
        return Decision(True, "promotion forced by run config")
    if override == "refuse":
        return Decision(False, "promotion refused by run config")
    metric = rules.metric
    failures = threshold_failures(challenger, rules.thresholds)
    if failures:
        return Decision(False, "challenger fails thresholds: " + "; ".join(failures))
    gain = relative_improvement(metric, versus_baseline.challenger, versus_baseline.other)
    if gain <= rules.min_gain_over_baseline or not _significant(versus_baseline):
        return Decision(
            False,
            f"challenger {metric} {versus_baseline.challenger:.4g} does not beat the trivial "
            f"baseline's {versus_baseline.other:.4g} clearly ({gain:+.2%}, needs more than "
            f"{rules.min_gain_over_baseline:+.2%}"
            f"{versus_baseline.noise_note(rules.confidence)}, "
            f"on {versus_baseline.rows} holdout rows)",
        )
    if repeat_of is not None:
        return Decision(False, repeat_of)
    if versus_champion is None and champion_broken is not None:
        name = f"v{champion_version}" if champion_version else "the champion"
        return Decision(
            True,
            f"{name} {champion_broken}; the challenger beats the baseline by {gain:+.2%} "
            f"on {versus_baseline.rows} rows",
        )
    if versus_champion is None:
        return Decision(
            True,
            f"no champion yet; beats the baseline by {gain:+.2%} on {versus_baseline.rows} rows",
        )
    name = f"v{champion_version}" if champion_version else "the champion"
    if versus_champion.rows < rules.min_compare_rows:
        return Decision(
            False,
            f"{versus_champion.rows} new rows since {name}'s cutoff; need "
            f"{rules.min_compare_rows} to compare (promotion.min_compare_rows)",
        )
    better, gain = clearly_better(metric, versus_champion, rules.min_improvement)
    verdict = (
        f"challenger {metric} {versus_champion.challenger:.4g} vs {name} "
        f"{versus_champion.other:.4g} on {versus_champion.rows} rows neither trained on "
        f"({gain:+.2%}, needs more than {rules.min_improvement:+.2%}"
        f"{versus_champion.noise_note(rules.confidence)})"
    )
    if gain > rules.min_improvement and not _significant(versus_champion):
        verdict += ": the gain is within the noise"
    return Decision(better, verdict)
