"""Reusing the last search's choice: when it is allowed, and what a reusing run does."""

import numpy as np
import pytest

from ml_pipeline.config import CandidateConfig, load_config
from ml_pipeline.core import names
from ml_pipeline.core.model import search_reuse
from ml_pipeline.core.model.challenger import HOLDOUT_TABLE, train_challenger, training_contract
from ml_pipeline.core.model.search_reuse import (
    PastSearch,
    only_new_partitions,
    reuse_refusal,
    search_key,
)
from ml_pipeline.core.names import SEARCH_KEY_TAG, SEARCH_REUSED_TAG
from ml_pipeline_tests.conftest import bike_document, write_config

CHOICE = CandidateConfig(name="hgb", estimator="hist_gradient_boosting", params={"max_iter": 9})
NOW = 1_800_000_000.0


def past(hours_ago: float = 1.0, rows: int = 1000) -> PastSearch:
    return PastSearch("run1", NOW - hours_ago * 3600, rows, CHOICE)


@pytest.mark.parametrize(
    ("trigger", "reusable"),
    [
        ("new_partitions:1", True),
        ("new_partitions:12", True),
        ("new_partitions:2,drift:0.412", False),
        ("model_age:30h", False),
        ("new_partitions:1,model_age:30h", False),
        (names.TRIGGER_SCHEDULE, False),
        (names.TRIGGER_CLI, False),
        (names.TRIGGER_BACKFILL, False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_retraining_for_new_partitions_alone_may_reuse(trigger, reusable) -> None:
    assert only_new_partitions(trigger) is reusable


def test_a_recent_search_on_enough_rows_is_reused() -> None:
    assert reuse_refusal(past(hours_ago=23.9, rows=1000), NOW, 24, 2000) is None


def test_a_search_older_than_the_limit_is_not_reused() -> None:
    refusal = reuse_refusal(past(hours_ago=25), NOW, 24, 1000)
    assert refusal == "the last search is 25.0 h old, over 24 h"


def test_a_search_on_under_half_the_rows_is_not_reused() -> None:
    refusal = reuse_refusal(past(rows=999), NOW, 24, 2000)
    assert refusal == "the last search saw 999 training rows, under half of 2000"


def test_no_search_or_reuse_turned_off_means_searching() -> None:
    assert reuse_refusal(None, NOW, 24, 10).startswith("no finished search")
    assert reuse_refusal(past(), NOW, None, 10) == "training.reuse_search_hours is null"


def test_the_search_key_changes_with_what_the_choice_depends_on(tmp_path) -> None:
    base = load_config(write_config(tmp_path / "a", bike_document()))
    same = load_config(write_config(tmp_path / "b", bike_document()))
    assert search_key(base.modeling, "v1", "rmse") == search_key(same.modeling, "v1", "rmse")
    assert search_key(base.modeling, "v1", "rmse") != search_key(base.modeling, "v2", "rmse")
    assert search_key(base.modeling, "v1", "rmse") != search_key(base.modeling, "v1", "mae")
    training = base.training.model_dump()
    training["candidates"] = training["candidates"][:1]
    fewer = load_config(write_config(tmp_path / "c", bike_document(training=training)))
    assert search_key(fewer.modeling, "v1", "rmse") != search_key(base.modeling, "v1", "rmse")


def test_a_search_round_trips_through_its_tags() -> None:
    tags = search_reuse.search_tags("key", CHOICE, 1234)
    assert search_reuse.past_search("run9", 5000, tags) == PastSearch("run9", 5.0, 1234, CHOICE)


def test_a_retraining_refits_the_last_search_choice_without_searching(trained_setup) -> None:
    import mlflow.sklearn

    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    searched = train_challenger(
        warehouse, keys, config.modeling, store, {}, contract, reuse_search=True
    )
    assert searched.search.startswith(f"searched {len(config.training.candidates)} candidate(s)")
    assert "not reused: no finished search" in searched.search

    reused = train_challenger(
        warehouse, keys, config.modeling, store, {}, contract, reuse_search=True
    )
    assert reused.search == f"reused the choice of search run {searched.mlflow_run_id}"
    assert reused.chosen == searched.chosen
    assert searched.reference_model is not None and reused.reference_model is None
    [row] = reused.candidates
    assert row["candidate"] == searched.challenger
    assert row["settings_tried"] == "reused" and row[f"cv_{reused.metric}"] is None
    # Same rows, same settings, same seed: the refit is the searched run's model.
    holdout = warehouse.read(HOLDOUT_TABLE, reused.holdout_key).drop(columns=["count"])
    np.testing.assert_array_equal(
        mlflow.sklearn.load_model(searched.model_uri).predict(holdout),
        mlflow.sklearn.load_model(reused.model_uri).predict(holdout),
    )
    run = store.client().get_run(reused.mlflow_run_id)
    assert run.data.tags[SEARCH_REUSED_TAG] == searched.mlflow_run_id
    # A reusing run records no search of its own: age counts from the real search.
    assert SEARCH_KEY_TAG not in run.data.tags
    again = train_challenger(
        warehouse, keys, config.modeling, store, {}, contract, reuse_search=True
    )
    assert again.search == f"reused the choice of search run {searched.mlflow_run_id}"


def test_runs_not_allowed_to_reuse_search_again(trained_setup) -> None:
    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    first = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    second = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    assert second.search == f"searched {len(config.training.candidates)} candidate(s)"
    assert len(second.candidates) == len(config.training.candidates)
    tags = store.client().get_run(first.mlflow_run_id).data.tags
    assert tags[SEARCH_KEY_TAG] == search_key(config.modeling, contract.version, first.metric)


def test_a_reused_choice_that_no_longer_fits_gives_way_to_a_search(trained_setup) -> None:
    from ml_pipeline.core.model.search_reuse import SEARCH_CHOICE_TAG

    config, warehouse, store = trained_setup
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    searched = train_challenger(
        warehouse, keys, config.modeling, store, {}, contract, reuse_search=True
    )
    # Recorded by a version whose estimator took settings this one refuses.
    stale = searched.chosen.model_copy(update={"params": {"max_iter": -1}})
    store.client().set_tag(searched.mlflow_run_id, SEARCH_CHOICE_TAG, stale.model_dump_json())
    stale_run = store.client().get_run(searched.mlflow_run_id)
    assert stale_run.data.tags[SEARCH_CHOICE_TAG] == stale.model_dump_json()

    again = train_challenger(
        warehouse, keys, config.modeling, store, {}, contract, reuse_search=True
    )

    assert again.search.startswith(f"searched {len(config.training.candidates)} candidate(s)")
    assert "not reused: its choice failed to fit: " in again.search
    assert again.failed == {}
