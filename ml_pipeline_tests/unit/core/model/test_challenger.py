"""Training against a real MLflow store: the holdout never reaches fitting or tuning."""

import re

import numpy as np
import pytest

from ml_pipeline.core import names
from ml_pipeline.core.model.challenger import (
    HOLDOUT_TABLE,
    train_challenger,
    training_contract,
)
from ml_pipeline.core.model.splitting import holdout_mask

POISON = 1e6


def test_poisoned_holdout_labels_do_not_change_the_model(trained_setup) -> None:
    import mlflow.sklearn

    config, warehouse, store = trained_setup
    # The holdout's one say in training is the choice between the searched challenger and
    # the default HGB (both fitted without it); the search itself must never see it.
    training = config.training.model_copy(update={"reference_model": False})
    config = config.model_copy(update={"training": training})
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    clean = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    for key in keys:
        frame = warehouse.read(names.FEATURES, key)
        frame.loc[holdout_mask(frame, clean.holdout).to_numpy(), "count"] = POISON
        warehouse.write(names.FEATURES, key, frame)
    poisoned = train_challenger(warehouse, keys, config.modeling, store, {}, contract)

    assert poisoned.holdout == clean.holdout
    assert (warehouse.read(HOLDOUT_TABLE, poisoned.holdout_key)["count"] == POISON).all()
    assert poisoned.data_fingerprint == clean.data_fingerprint
    assert poisoned.candidates == [
        {**row, "fit_seconds": poisoned.candidates[i]["fit_seconds"]}
        for i, row in enumerate(clean.candidates)
    ]
    holdout = warehouse.read(HOLDOUT_TABLE, clean.holdout_key).drop(columns=["count"])
    before = mlflow.sklearn.load_model(clean.model_uri).predict(holdout)
    after = mlflow.sklearn.load_model(poisoned.model_uri).predict(holdout)
    np.testing.assert_array_equal(before, after)


def test_partitions_that_break_the_contract_are_left_out_not_fatal(trained_setup) -> None:
    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    good = warehouse.read(names.FEATURES, "day0")
    # Written before contracts: a repeated header became a column of its own.
    warehouse.write(names.FEATURES, "renamed", good.assign(**{"temp.1": good["temp"]}))
    warehouse.write(names.FEATURES, "no_temp", good.drop(columns=["temp"]))
    warehouse.write(names.FEATURES, "text_temp", good.assign(temp=good["temp"].astype(str)))
    warehouse.path(names.FEATURES, "damaged").write_bytes(b"PAR1 cut short")
    # Ingested before non-finite numbers became missing values.
    warehouse.write(names.FEATURES, "inf_target", good.assign(count=np.inf))
    warehouse.write(names.FEATURES, "inf_inputs", good.assign(temp=np.inf, humidity=-np.inf))
    warehouse.write(names.FEATURES, "text_target", good.assign(count=good["count"].astype(str)))
    keys = warehouse.partitions(names.FEATURES)

    outcome = train_challenger(warehouse, keys, config.modeling, store, {}, contract)

    # Text inputs are read as the contract's kind (as if cleaned after it was decided).
    assert {"renamed", "inf_inputs", "text_temp"} <= set(outcome.partitions)
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(outcome.model_uri)
    assert "temp" in model.named_steps["features"].numeric_columns_
    assert set(outcome.excluded) == {"no_temp", "damaged", "inf_target", "text_target"}
    assert outcome.excluded["inf_target"].startswith("target 'count' holds inf")
    assert re.fullmatch(
        r"column 'count' is (large_)?string, not numeric as the contract says",
        outcome.excluded["text_target"],
    )
    assert outcome.drift_profile.columns["temp"].high < np.inf
    assert outcome.excluded["no_temp"] == "lacks contract columns temp"
    assert outcome.excluded["damaged"].startswith("unreadable: ")
    assert "temp.1" not in outcome.drift_profile.columns


def test_training_fails_only_when_no_partition_conforms(trained_setup) -> None:
    config, warehouse, store = trained_setup
    contract = training_contract(config.modeling, warehouse, warehouse.partitions(names.FEATURES))
    for key in warehouse.partitions(names.FEATURES):
        warehouse.write(
            names.FEATURES, key, warehouse.read(names.FEATURES, key).drop(columns="temp")
        )
    with pytest.raises(ValueError, match="none of the 6 feature partitions conforms"):
        train_challenger(
            warehouse, warehouse.partitions(names.FEATURES), config.modeling, store, {}, contract
        )


def test_the_training_run_logs_each_partition_it_read_as_an_mlflow_dataset(trained_setup) -> None:
    from ml_pipeline.core.model.blame import content_digest

    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    warehouse.path(names.FEATURES, "damaged").write_bytes(b"PAR1 cut short")
    outcome = train_challenger(warehouse, [*keys, "damaged"], config.modeling, store, {}, contract)

    inputs = store.client().get_run(outcome.mlflow_run_id).inputs.dataset_inputs
    logged = {item.dataset.name: item for item in inputs}
    assert set(logged) == {f"features/{key}" for key in keys}  # not the left-out one
    for key in keys:
        item = logged[f"features/{key}"]
        tags = {tag.key: tag.value for tag in item.tags}
        assert item.dataset.digest == content_digest(warehouse.footer(names.FEATURES, key))
        assert tags["rows"] == str(warehouse.row_count(names.FEATURES, key))
        assert tags["mlflow.data.context"] == "training"
        assert str(warehouse.path(names.FEATURES, key)) in item.dataset.source
    warehouse.drop(names.FEATURES, "damaged")
