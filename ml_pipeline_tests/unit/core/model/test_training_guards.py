"""Checks that run before any fitting, and the pruning of holdouts after validation."""

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.model.challenger import HOLDOUT_TABLE, prune_holdouts, target_problem


def test_a_regression_target_run_as_classification_is_refused_at_once() -> None:
    y = pd.Series(range(200), name="count").astype("int64")
    error, _ = target_problem(y, "classification", max_classes=100)
    assert error == (
        "target 'count' has 200 distinct values, more than dataset.max_classes (100): "
        "is dataset.task meant to be regression? (or raise max_classes)"
    )


def test_fractional_labels_are_refused_naming_one() -> None:
    error, _ = target_problem(pd.Series([0.0, 1.5, 1.0], name="y"), "classification", 100)
    assert error.startswith("target 'y' holds fractional values (e.g. 1.5)")


def test_a_single_class_is_refused() -> None:
    error, _ = target_problem(pd.Series(["a"] * 5, name="y"), "classification", 100)
    assert error == "target 'y' has a single class in the training sample"


def test_a_two_valued_regression_target_trains_with_a_warning() -> None:
    error, warning = target_problem(pd.Series([0.0, 1.0] * 5, name="y"), "regression", 100)
    assert error is None and "only 2 distinct values" in warning


def test_ordinary_targets_pass() -> None:
    assert target_problem(pd.Series([1, 2, 3] * 5, name="y"), "classification", 100) == (None, None)
    assert target_problem(pd.Series(range(50), name="y"), "regression", 100) == (None, None)


def test_holdouts_are_pruned_except_those_kept(tmp_path) -> None:
    warehouse = Warehouse(tmp_path)
    for key in ("run_a", "run_b", "run_c"):
        warehouse.write(HOLDOUT_TABLE, key, pd.DataFrame({"y": [1]}))
    assert prune_holdouts(warehouse, {"run_b", "run_c", "gone"}) == ["run_a"]
    assert warehouse.partitions(HOLDOUT_TABLE) == ["run_b", "run_c"]


@pytest.mark.parametrize("keep", [set(), {"other"}])
def test_pruning_an_empty_holdout_table_is_harmless(tmp_path, keep) -> None:
    assert prune_holdouts(Warehouse(tmp_path), keep) == []


def test_many_rare_numeric_labels_read_as_a_quantity_not_classes() -> None:
    counts = pd.Series(list(range(60)) + [0] * 40, name="count")
    error, _ = target_problem(counts, "classification", max_classes=100)
    assert error.startswith(
        "target 'count' has 60 distinct numbers (59 of them on fewer than 5 rows): it looks "
        "like a quantity, not labels; is dataset.task meant to be regression?"
    )


def test_many_frequent_numeric_labels_still_read_as_a_quantity() -> None:
    counts = pd.Series(list(range(80)) * 20, name="count")
    error, _ = target_problem(counts, "classification", max_classes=100)
    assert error.startswith("target 'count' has 80 distinct numbers (0 of them")


def test_twenty_numeric_classes_train_with_a_warning_naming_them() -> None:
    error, warning = target_problem(
        pd.Series(list(range(25)) * 10, name="digit"), "classification", 100
    )
    assert error is None and warning == "target 'digit' has 25 classes: is dataset.task right?"


def test_holdout_labels_the_model_never_saw_do_not_break_the_metrics() -> None:
    from ml_pipeline.core.model.evaluation import classification_metrics

    y = pd.Series([0, 1, 2, 9])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]])
    scores = classification_metrics(y, np.array([0, 1, 2, 0]), probabilities, [0, 1, 2])
    assert scores["accuracy"] == 0.75
    assert scores["log_loss"] == pytest.approx(-np.log(0.8))
    assert scores["roc_auc"] == 1.0
