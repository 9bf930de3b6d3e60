"""The default HGB against the searched challenger on the same holdout: the better one
is deployed, and the verdict says which and why."""

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.config import load_config
from ml_pipeline.core.model import training
from ml_pipeline.core.model.yardstick import judge
from ml_pipeline.core.names import YARDSTICK_TAG
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, write_config
from ml_pipeline_tests.unit.core.model.conftest import train_on_every_partition


class Fixed:
    """A fitted model whose predictions are given: the truth plus chosen errors."""

    def __init__(self, values, probabilities=None, classes=None) -> None:
        self.values, self.probabilities = np.asarray(values), probabilities
        if classes is not None:
            self.classes_ = np.asarray(classes)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.values[: len(X)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.probabilities[: len(X)]


@pytest.fixture
def regression_config(tmp_path):
    return load_config(write_config(tmp_path, bike_document()))


def _holdout(y) -> pd.DataFrame:
    return pd.DataFrame({"temp": np.arange(len(y), dtype="float64"), "count": y})


def test_a_reference_better_beyond_the_noise_replaces_the_challenger(regression_config) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 20, 400)
    close, far = y + rng.normal(0, 2, 400), y + rng.normal(0, 15, 400)
    verdict = judge(regression_config, "ridge", Fixed(far), Fixed(close), _holdout(y), "rmse")
    assert verdict.replaces
    assert verdict.reason.startswith("default HGB deployed in place of ridge: default HGB rmse")
    assert "on 400 holdout rows" in verdict.reason and "lower bound of the gain" in verdict.reason


def test_an_equal_or_worse_reference_leaves_the_challenger(regression_config) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(100, 20, 400)
    same = y + rng.normal(0, 5, 400)
    tie = judge(regression_config, "hgb", Fixed(same), Fixed(same), _holdout(y), "rmse")
    worse = judge(
        regression_config, "hgb", Fixed(same), Fixed(y + rng.normal(0, 9, 400)), _holdout(y), "rmse"
    )
    assert not tie.replaces and tie.reason.startswith("hgb kept: default HGB rmse")
    assert not worse.replaces


def test_a_gain_within_the_noise_of_a_few_rows_leaves_the_challenger(regression_config) -> None:
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    challenger = y + np.array([3.0, -3.0, 0.5, -0.5, 0.0])
    reference = y + np.array([2.5, -3.0, 0.5, -0.5, 0.0])  # better on one row of five
    verdict = judge(
        regression_config, "hgb", Fixed(challenger), Fixed(reference), _holdout(y), "rmse"
    )
    assert not verdict.replaces and "hgb kept" in verdict.reason


def test_the_margin_the_gate_asks_of_a_champion_is_asked_of_the_reference(tmp_path) -> None:
    config = load_config(write_config(tmp_path, bike_document(promotion={"min_improvement": 0.5})))
    rng = np.random.default_rng(2)
    y = rng.normal(100, 20, 400)
    challenger, reference = y + rng.normal(0, 10, 400), y + rng.normal(0, 7, 400)
    verdict = judge(config, "ridge", Fixed(challenger), Fixed(reference), _holdout(y), "rmse")
    assert not verdict.replaces  # better by about a third, short of the 50% margin


def test_classifiers_are_judged_on_the_classes_either_knows(tmp_path) -> None:
    document = bike_document(
        dataset={**bike_document()["dataset"], "target": "kind", "task": "classification"}
    )
    config = load_config(write_config(tmp_path, document))
    y = np.array(["a", "b", "c"] * 100)
    right = np.eye(3)[np.arange(300) % 3]
    reference = Fixed(y, right, ["a", "b", "c"])
    # The challenger never saw class "c": it always says "a" there.
    wrong = np.where(y == "c", "a", y)
    challenger = Fixed(wrong, np.eye(2)[np.where(wrong == "a", 0, 1)], ["a", "b"])
    holdout = pd.DataFrame({"temp": np.arange(300.0), "kind": y})
    verdict = judge(config, "forest", challenger, reference, holdout, "f1_macro")
    assert verdict.replaces and "f1_macro" in verdict.reason


def test_a_weak_search_deploys_the_default_hgb_in_its_place(trained_setup, tmp_path) -> None:
    import mlflow

    _, warehouse, _ = trained_setup
    weak = {"name": "flat", "estimator": "linear", "search": {"alpha": [1e9]}}
    document = bike_document(training={**FAST_TRAINING, "candidates": [weak]})
    config = load_config(write_config(tmp_path / "weak", document))
    store = mlflow_store(config)
    outcome = train_on_every_partition(config, warehouse, store)

    assert outcome.challenger == training.REFERENCE.name
    assert outcome.chosen.name == training.REFERENCE.name
    assert outcome.yardstick.startswith("default HGB deployed in place of flat: default HGB rmse")
    run = mlflow.get_run(outcome.mlflow_run_id)
    assert run.data.tags[YARDSTICK_TAG] == outcome.yardstick
    assert run.data.params["challenger"] == training.REFERENCE.name
    holdout = warehouse.read("holdout", outcome.holdout_key).drop(columns=["count"])
    logged = mlflow.sklearn.load_model(outcome.model_uri)
    np.testing.assert_allclose(
        logged.predict(holdout), outcome.reference_model.predict(holdout), rtol=1e-9
    )


def test_a_search_that_beats_the_default_hgb_is_kept_and_the_verdict_says_so(
    trained_setup,
) -> None:
    config, warehouse, store = trained_setup
    outcome = train_on_every_partition(config, warehouse, store)
    assert outcome.challenger != training.REFERENCE.name
    assert outcome.yardstick.startswith(f"{outcome.challenger} kept: default HGB rmse")
