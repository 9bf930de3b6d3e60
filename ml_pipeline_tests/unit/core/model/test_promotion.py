from ml_pipeline.core.model.promotion import Decision, Paired, Rules, decide


def rules(metric="rmse", **changes) -> Rules:
    defaults = dict(
        metric=metric,
        min_improvement=0.0,
        thresholds={},
        min_gain_over_baseline=0.05,
        min_compare_rows=200,
        confidence=0.95,
    )
    return Rules(**{**defaults, **changes})


CLEAR_OF_BASELINE = Paired(500, 5.0, 10.0, gain_low=4.0)


def test_first_model_is_promoted_if_it_passes_thresholds_and_beats_the_baseline() -> None:
    chosen = rules(thresholds={"r2": 0.5})
    assert decide({"rmse": 5, "r2": 0.8}, chosen, CLEAR_OF_BASELINE, None).promote
    refused = decide({"rmse": 5, "r2": 0.3}, chosen, CLEAR_OF_BASELINE, None)
    assert not refused.promote and "r2 0.3 is below the threshold 0.5" in refused.reason


def test_a_first_model_worse_than_the_trivial_baseline_is_not_deployed() -> None:
    """The defect: accuracy 0.562 / macro F1 0.208 deployed against a baseline of 0.248."""
    worse = Paired(35, 0.208, 0.248, gain_low=-0.1)
    refused = decide({"f1_macro": 0.208}, rules("f1_macro"), worse, None)
    assert not refused.promote
    assert "does not beat the trivial baseline's 0.248" in refused.reason
    # Better, but by less than the configured margin (5% of the baseline's score).
    slim = Paired(500, 0.255, 0.248, gain_low=0.001)
    assert not decide({"f1_macro": 0.255}, rules("f1_macro"), slim, None).promote
    # Better by the margin on average, but within the noise of the rows.
    noisy = Paired(19, 0.40, 0.25, gain_low=-0.05)
    assert not decide({"f1_macro": 0.40}, rules("f1_macro"), noisy, None).promote


def test_challenger_must_beat_champion_by_the_margin_and_the_noise() -> None:
    def versus(challenger, champion, low=1.0, rows=500):
        return Paired(rows, challenger, champion, gain_low=low)

    margin = rules(min_improvement=0.05)
    assert decide({"rmse": 9.0}, margin, CLEAR_OF_BASELINE, versus(9.0, 10.0), "3").promote
    assert not decide({"rmse": 9.8}, margin, CLEAR_OF_BASELINE, versus(9.8, 10.0), "3").promote
    assert not decide({"rmse": 10.0}, rules(), CLEAR_OF_BASELINE, versus(10, 10), "3").promote
    noise = decide({"rmse": 9.0}, rules(), CLEAR_OF_BASELINE, versus(9.0, 10.0, low=-0.2), "3")
    assert not noise.promote and "within the noise" in noise.reason
    f1 = rules("f1_macro", min_improvement=0.1)
    baseline = Paired(500, 0.9, 0.3, gain_low=0.5)
    assert decide({"f1_macro": 0.9}, f1, baseline, versus(0.9, 0.8), "3").promote
    assert not decide({"f1_macro": 0.7}, f1, baseline, versus(0.7, 0.8, low=-0.2), "3").promote


def test_too_few_rows_unseen_by_the_champion_keep_it() -> None:
    few = Paired(12, 1.0, 10.0, gain_low=5.0)
    kept = decide({"rmse": 1.0}, rules(min_compare_rows=500), CLEAR_OF_BASELINE, few, "3")
    assert not kept.promote
    assert kept.reason.startswith("12 new rows since v3's cutoff; need 500 to compare")


def test_a_rolled_back_model_is_not_promoted_again_unchanged() -> None:
    repeat = "the same model as version 2, which was rolled back"
    kept = decide({"rmse": 5.0}, rules(), CLEAR_OF_BASELINE, None, None, None, repeat)
    assert not kept.promote and kept.reason == repeat


def test_a_person_can_force_or_refuse() -> None:
    worse = Paired(500, 20.0, 10.0, gain_low=-9.0)
    assert decide({"rmse": 20.0}, rules(), worse, worse, "1", override="force").promote
    best = Paired(500, 1.0, 10.0, gain_low=8.0)
    assert not decide({"rmse": 1.0}, rules(), best, best, "1", override="refuse").promote


def test_lower_is_better_thresholds() -> None:
    chosen = rules(thresholds={"rmse": 10.0})
    assert not decide({"rmse": 12.0}, chosen, Paired(500, 12.0, 30.0, 10.0), None).promote


def test_the_rules_are_the_promotion_sections_own() -> None:
    from ml_pipeline.config import PromotionConfig

    policy = PromotionConfig(min_improvement=0.02, thresholds={"r2": 0.5}, confidence=0.9)
    rules = Rules.from_config(policy, "r2")
    assert (rules.metric, rules.min_improvement, rules.thresholds) == ("r2", 0.02, {"r2": 0.5})
    assert (rules.min_gain_over_baseline, rules.min_compare_rows, rules.confidence) == (
        policy.min_gain_over_baseline,
        policy.min_compare_rows,
        0.9,
    )


def test_keeping_the_champion_is_no_problem_and_an_empty_seat_or_broken_artifact_is() -> None:
    from ml_pipeline.core.model.gate import gate_problem
    from ml_pipeline.core.model.smoke import SmokeResult

    kept, promoted = Decision(False, "not better"), Decision(True, "better")
    fine, broken = SmokeResult(True, "ok", 5), SmokeResult(False, "scores differ", 5)
    assert gate_problem(kept, None, "3") is None
    assert gate_problem(promoted, fine, "3") is None
    assert gate_problem(promoted, fine, None) is None
    assert gate_problem(kept, None, None) == "no model serves: not better"
    assert "failed its smoke test: scores differ" in gate_problem(kept, broken, "3")
