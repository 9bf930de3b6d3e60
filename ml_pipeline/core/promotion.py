"""Whether a challenger replaces the champion, judged on the same holdout."""

from __future__ import annotations

from dataclasses import dataclass

from ml_pipeline.core.evaluation import higher_is_better


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def _threshold_failures(scores: dict[str, float], thresholds: dict[str, float]) -> list[str]:
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


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    metric: str,
    min_improvement: float,
    thresholds: dict[str, float],
    override: str | None = None,
) -> Decision:
    """``override`` is a person's call, ``"force"`` or ``"refuse"``, and wins over the rules."""
    if override == "force":
        return Decision(True, "promotion forced by run config")
    if override == "refuse":
        return Decision(False, "promotion refused by run config")
    failures = _threshold_failures(challenger, thresholds)
    if failures:
        return Decision(False, "challenger fails thresholds: " + "; ".join(failures))
    if champion is None:
        return Decision(True, "no champion yet")
    gain = relative_improvement(metric, challenger[metric], champion[metric])
    verdict = (
        f"challenger {metric} {challenger[metric]:.4g} vs champion {champion[metric]:.4g} "
        f"({gain:+.2%}, needs more than {min_improvement:+.2%})"
    )
    return Decision(gain > min_improvement, verdict)
