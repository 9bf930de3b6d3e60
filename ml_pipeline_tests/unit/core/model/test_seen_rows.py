"""New rows count by content: rows a refit champion never fitted are rows the gate may
compare it on, even when they arrive in a partition it trained on."""

import numpy as np
import pandas as pd

from ml_pipeline.core import names
from ml_pipeline.core.model import refit
from ml_pipeline.core.model.challenger import train_challenger, training_contract
from ml_pipeline.core.model.gate import validate_challenger
from ml_pipeline.core.model.splitting import holdout_mask

ROWS = pd.DataFrame({"temp": [1.0, 2.0, 3.0], "kind": ["a", "b", "a"]})


def test_a_row_hash_depends_on_content_not_on_column_order() -> None:
    reordered = ROWS[["kind", "temp"]]
    assert refit.row_hashes(ROWS).tolist() == refit.row_hashes(reordered).tolist()
    changed = ROWS.assign(temp=[1.0, 2.0, 3.5])
    assert (refit.row_hashes(ROWS) == refit.row_hashes(changed)).tolist() == [True, True, False]


def test_only_rows_outside_the_fitted_ones_are_unseen() -> None:
    seen = refit.Seen({"p": "d1"}, np.unique(refit.row_hashes(ROWS.iloc[:2]).to_numpy()))
    assert seen.unseen_rows(ROWS).tolist() == [False, False, True]
    assert seen.changed("p", "d2") and not seen.changed("p", "d1")


def test_a_champion_recorded_before_digests_or_row_hashes_saw_its_partitions_whole() -> None:
    without_digest = refit.Seen({"p": None}, np.array([1, 2], dtype="uint64"))
    without_rows = refit.Seen({"p": "d1"}, None)
    assert not without_digest.changed("p", "d2") and not without_rows.changed("p", "d2")
    assert without_rows.unseen_rows(ROWS).all()


def _promote_refit(store, outcome, validation) -> None:
    """What deployment does for a refit champion: its partitions, then the version."""
    refit.log_training_partitions(
        store, outcome.mlflow_run_id, outcome.partitions, validation.deploy.digests
    )
    store.promote(store.register(validation.deploy.model_uri, {names.REFIT_TAG: "true"}))


def test_rows_added_to_a_trained_partition_are_compared_on(trained_setup) -> None:
    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    full = warehouse.read(names.FEATURES, "day5")
    # The file landed half-written: the champion trains on half of it.
    warehouse.write(names.FEATURES, "day5", full.iloc[: len(full) // 2])
    contract = training_contract(config.modeling, warehouse, keys)
    first = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    validation = validate_challenger(first, warehouse, config.modeling, store)
    assert validation.decision.promote and validation.deploy.refit
    _promote_refit(store, first, validation)

    warehouse.write(names.FEATURES, "day5", full)  # completed, and ingested again
    second = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    again = validate_challenger(second, warehouse, config.modeling, store)

    added = full.iloc[len(full) // 2 :]
    expected = int(holdout_mask(added, second.holdout).sum())
    assert expected > 0
    assert again.compared_rows == expected
    assert again.champion is not None and again.champion_version == "1"


def test_a_partition_landed_again_unchanged_adds_no_rows_to_compare(trained_setup) -> None:
    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    first = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    validation = validate_challenger(first, warehouse, config.modeling, store)
    _promote_refit(store, first, validation)
    warehouse.write(names.FEATURES, "day5", warehouse.read(names.FEATURES, "day5"))

    second = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    again = validate_challenger(second, warehouse, config.modeling, store)
    assert again.compared_rows == 0
    assert again.decision.reason.startswith("0 new rows since v1's cutoff")
