"""A champion that can no longer score never stops the gate: a working challenger replaces it."""

from ml_pipeline.core import names
from ml_pipeline.core.model import promotion
from ml_pipeline.core.model.challenger import train_challenger, training_contract
from ml_pipeline.core.model.gate import validate_challenger
from ml_pipeline_tests.unit.core.model.conftest import train_on_every_partition


def test_a_champion_whose_column_left_the_data_is_replaced_saying_why(trained_setup) -> None:
    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    first = train_on_every_partition(config, warehouse, store)
    store.promote(store.register(first.model_uri, {}))
    # The data stops carrying `humidity`: the champion, built on it, cannot score any row.
    for key in keys:
        frame = warehouse.read(names.FEATURES, key).drop(columns=["humidity"])
        warehouse.write(names.FEATURES, key, frame)
    config.contract_path.unlink()
    contract = training_contract(config.modeling, warehouse, keys)
    assert "humidity" not in contract.inputs()

    second = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    validation = validate_challenger(second, warehouse, config.modeling, store)

    assert validation.decision.promote
    assert validation.decision.reason.startswith("v1 cannot score the holdout: ValueError: ")
    assert "humidity" in validation.decision.reason
    assert validation.unmeasured["champion v1"].startswith("cannot score the holdout")
    assert validation.champion is None


RULES = promotion.Rules("rmse", 0.01, {}, 0.0, 1, 0.95)
BEATS_BASELINE = promotion.Paired(100, 1.0, 2.0)


def test_a_broken_champion_is_replaced_only_by_a_challenger_that_passes_the_rules() -> None:
    broken = "cannot be loaded: OSError: No such file"
    kept = promotion.decide(
        {"rmse": 3.0}, RULES, promotion.Paired(100, 3.0, 2.0), None, "4", champion_broken=broken
    )
    replaced = promotion.decide(
        {"rmse": 1.0}, RULES, BEATS_BASELINE, None, "4", champion_broken=broken
    )
    assert not kept.promote and "trivial baseline" in kept.reason
    assert replaced.promote and replaced.reason.startswith(f"v4 {broken}; the challenger")
