from ml_pipeline.core.promotion import decide


def test_first_model_is_promoted_if_it_passes_thresholds() -> None:
    assert decide({"rmse": 5, "r2": 0.8}, None, "rmse", 0.0, {"r2": 0.5}).promote
    refused = decide({"rmse": 5, "r2": 0.3}, None, "rmse", 0.0, {"r2": 0.5})
    assert not refused.promote and "r2 0.3 is below the threshold 0.5" in refused.reason


def test_challenger_must_beat_champion_by_the_margin() -> None:
    assert decide({"rmse": 9.0}, {"rmse": 10.0}, "rmse", 0.05, {}).promote
    assert not decide({"rmse": 9.8}, {"rmse": 10.0}, "rmse", 0.05, {}).promote
    assert not decide({"rmse": 10.0}, {"rmse": 10.0}, "rmse", 0.0, {}).promote
    assert decide({"f1_macro": 0.9}, {"f1_macro": 0.8}, "f1_macro", 0.1, {}).promote
    assert not decide({"f1_macro": 0.7}, {"f1_macro": 0.8}, "f1_macro", 0.0, {}).promote


def test_a_person_can_force_or_refuse() -> None:
    assert decide({"rmse": 20.0}, {"rmse": 10.0}, "rmse", 0.0, {}, override="force").promote
    assert not decide({"rmse": 1.0}, {"rmse": 10.0}, "rmse", 0.0, {}, override="refuse").promote


def test_lower_is_better_thresholds() -> None:
    assert not decide({"rmse": 12.0}, None, "rmse", 0.0, {"rmse": 10.0}).promote
