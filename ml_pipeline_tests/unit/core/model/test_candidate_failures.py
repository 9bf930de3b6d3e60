"""One candidate's failure never fails a training, and rare classes never break a split."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline

from ml_pipeline.config import CandidateConfig, load_config
from ml_pipeline.core import names
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.feature_table import build_feature_table
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.model.challenger import (
    fit_best_that_fits,
    train_challenger,
    training_contract,
)
from ml_pipeline.core.model.training import (
    CandidateError,
    CandidateResult,
    early_stopping_hazard,
    ranked,
    tune_candidate,
    without_early_stopping,
)
from ml_pipeline.core.names import CANDIDATE_ERROR_TAG
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import FAST_TRAINING, write_config

HGB = CandidateConfig(
    name="hgb",
    estimator="hist_gradient_boosting",
    params={"early_stopping": True, "max_iter": 30},
)
LINEAR = CandidateConfig(name="linear", estimator="linear")


def weather(n: int, rare: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Hourly rows whose ``weather`` label is mostly clear or rain, with ``rare`` classes
    seen the given number of times at random places."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(15, 5, n)
    labels = np.where(temp > 15, "clear", "rain").astype(object)
    spots = rng.choice(n, sum(rare.values()), replace=False)
    labels[spots] = [name for name, count in rare.items() for _ in range(count)]
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="h"),
            "temp": temp.round(3),
            "weather": labels,
        }
    )


def search(candidate: CandidateConfig, frame: pd.DataFrame, time_ordered: bool = False):
    return tune_candidate(
        candidate,
        "classification",
        frame.drop(columns="weather"),
        frame["weather"],
        metric="f1_macro",
        timestamp_column="timestamp" if time_ordered else None,
        ignored_columns=[] if time_ordered else ["timestamp"],
        folds=3,
        iterations=1,
        n_jobs=1,
        seed=0,
    )


@pytest.mark.parametrize("seen", [1, 2])
@pytest.mark.parametrize("time_ordered", [False, True])
def test_a_class_seen_once_or_twice_is_a_hazard_for_early_stopping(seen, time_ordered) -> None:
    y = weather(300, {"snow": seen})["weather"]
    hazard = early_stopping_hazard(y, folds=3, time_ordered=time_ordered, seed=0)
    assert hazard is not None and "'snow'" in hazard


def test_plentiful_classes_are_no_hazard() -> None:
    y = weather(300, {"snow": 30})["weather"]
    assert early_stopping_hazard(y, folds=3, time_ordered=False, seed=0) is None


def test_more_classes_than_a_tenth_of_the_rows_is_a_hazard() -> None:
    y = pd.Series([f"c{i % 8}" for i in range(40)])
    assert "8 classes do not fit" in early_stopping_hazard(y, 2, False, 0)


@pytest.mark.parametrize("seen", [1, 2])
def test_gradient_boosting_without_early_stopping_learns_a_rare_class(seen) -> None:
    frame = weather(300, {"snow": seen})
    result = search(without_early_stopping(HGB), frame)
    assert np.isfinite(result.cv_score)
    assert "snow" in result.model.classes_


def test_a_candidate_whose_every_fold_fails_raises_a_candidate_error() -> None:
    frame = weather(300, {}).assign(weather="clear")
    with pytest.raises(CandidateError, match=r"every cross-validation fit failed: .*one class"):
        search(LINEAR, frame)


def test_a_fold_that_cannot_be_fitted_is_left_out_of_the_mean() -> None:
    # The first time slice holds one class: the linear model cannot fit it, later ones can.
    frame = weather(300, {})
    frame.loc[:80, "weather"] = "rain"
    result = search(LINEAR, frame, time_ordered=True)
    assert np.isfinite(result.cv_score)


def test_undefined_scores_rank_last() -> None:
    results = [search(LINEAR, weather(120, {})) for _ in range(2)]
    results[0].cv_score, results[0].name = float("nan"), "undefined"
    assert [r.name for r in ranked(results, higher_better=True)] == ["linear", "undefined"]


def _project(tmp_path, frames: list[pd.DataFrame], candidates: list[dict], task: str):
    document = {
        "dataset": {
            "landing_dir": "landing",
            "target": "weather",
            "task": task,
            "timestamp_column": "timestamp",
        },
        "storage": {"data_dir": "data"},
        "mlflow": {"experiment": "failures", "registered_model": "failures"},
        "training": {**FAST_TRAINING, "candidates": candidates},
    }
    config = load_config(write_config(tmp_path, document))
    warehouse = Warehouse(config.warehouse_dir)
    for index, frame in enumerate(frames):
        cleaned, _ = clean_batch(frame, config.dataset, config.cleaning)
        table = build_feature_table(cleaned, "weather", "timestamp", [])
        warehouse.write(names.FEATURES, f"month{index}", table)
    keys = warehouse.partitions(names.FEATURES)
    store = mlflow_store(config)
    return config, warehouse, store, keys, training_contract(config.modeling, warehouse, keys)


BOOSTING = {
    "name": "boosting",
    "estimator": "hist_gradient_boosting",
    "params": {"max_iter": 30, "early_stopping": True},
}
BROKEN = {"name": "broken", "estimator": "random_forest", "params": {"max_depth": "deep"}}


@pytest.mark.parametrize("seen", [1, 2])
@pytest.mark.parametrize("where", ["sample", "holdout"])
def test_a_class_seen_once_or_twice_trains_and_validates(tmp_path, seen, where) -> None:
    from ml_pipeline.core.model.gate import validate_challenger

    frames = [weather(200, {}, seed=i) for i in range(3)]
    # The holdout is the latest fifth of the rows: the end of the last month.
    month, rows = (1, slice(50, 50 + seen)) if where == "sample" else (2, slice(-seen, None))
    frames[month].iloc[rows, frames[month].columns.get_loc("weather")] = "snow"
    linear = {"name": "linear", "estimator": "linear"}
    config, warehouse, store, keys, contract = _project(
        tmp_path, frames, [linear, BOOSTING], "classification"
    )
    outcome = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    assert outcome.failed == {}
    assert [row["candidate"] for row in outcome.candidates] == ["linear", "boosting"]
    if where == "sample" and seen == 1:  # two rows in a row split fine in time order
        [warning] = [w for w in outcome.warnings if "early stopping" in w]
        assert "'snow'" in warning

    validation = validate_challenger(outcome, warehouse, config.modeling, store)
    assert np.isfinite(validation.challenger["f1_macro"])
    assert validation.decision.promote, validation.decision.reason


def test_a_failing_candidate_is_left_out_with_its_error_on_its_run(tmp_path) -> None:
    import mlflow

    frames = [weather(200, {}, seed=i) for i in range(3)]
    config, warehouse, store, keys, contract = _project(
        tmp_path, frames, [BROKEN, BOOSTING], "classification"
    )
    outcome = train_challenger(warehouse, keys, config.modeling, store, {}, contract)

    assert outcome.challenger == "boosting"
    assert "'max_depth' parameter" in outcome.failed["broken"]
    assert {"candidate": "broken", "error": outcome.failed["broken"]} in outcome.candidates
    assert "1 failed and left out" in outcome.search
    [run] = mlflow.search_runs(
        experiment_names=["failures"],
        filter_string="tags.mlflow.runName = 'broken'",
        output_format="list",
    )
    assert run.info.status == "FAILED"
    assert run.data.tags[CANDIDATE_ERROR_TAG] == outcome.failed["broken"]


def test_only_when_every_candidate_fails_does_training_fail_naming_each(tmp_path) -> None:
    broken_too = {
        **BROKEN,
        "name": "broken_too",
        "estimator": "hist_gradient_boosting",
        "params": {"max_iter": -1},
    }
    frames = [weather(200, {}, seed=i) for i in range(3)]
    config, warehouse, store, keys, contract = _project(
        tmp_path, frames, [BROKEN, broken_too], "classification"
    )
    with pytest.raises(CandidateError, match="every candidate failed") as raised:
        train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    assert "broken: " in str(raised.value) and "broken_too: " in str(raised.value)


class ExplodingModel:
    """A reference model whose scoring raises, as one fitted on other columns would."""

    classes_ = np.array(["clear", "rain"])

    def predict(self, X):
        raise ValueError("input is missing required columns: humidity")

    predict_proba = predict


def test_a_reference_that_fails_to_score_is_unmeasured_not_fatal(tmp_path) -> None:
    from ml_pipeline.core.model.gate import validate_challenger

    frames = [weather(200, {}, seed=i) for i in range(3)]
    config, warehouse, store, keys, contract = _project(
        tmp_path, frames, [BOOSTING], "classification"
    )
    outcome = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    outcome.reference_model = ExplodingModel()
    validation = validate_challenger(outcome, warehouse, config.modeling, store)
    assert validation.default_hgb is None
    assert "missing required columns: humidity" in validation.unmeasured["default HGB"]
    assert validation.decision.promote, validation.decision.reason


def test_an_outage_is_no_candidate_failure_but_raised_for_the_step_to_retry() -> None:
    from ml_pipeline.core.model.challenger import leave_out

    failed: dict[str, str] = {}
    with pytest.raises(ConnectionRefusedError):
        leave_out(failed, "hgb", ConnectionRefusedError(111, "Connection refused"))
    leave_out(failed, "forest", ValueError("max_depth must be an int"), "refit: ")
    assert failed == {"forest": "refit: ValueError: max_depth must be an int"}


class FitsButCannotPredict(BaseEstimator, RegressorMixin):
    """Fits, then raises on every prediction: a challenger the gate could not score."""

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        raise ValueError("cannot predict these rows")


def _result(name: str, cv_score: float, estimator: object) -> CandidateResult:
    return CandidateResult(
        name=name,
        estimator="test",
        params={},
        cv_score=cv_score,
        cv_std=0.0,
        fit_seconds=0.0,
        model=None,
        unfitted=Pipeline([("model", estimator)]),
    )


def test_a_best_candidate_that_cannot_predict_the_holdout_gives_way_to_the_next() -> None:
    X = pd.DataFrame({"x": np.arange(20.0)})
    y = pd.Series(np.arange(20.0))
    failed: dict[str, str] = {}
    fragile = _result("fragile", 0.9, FitsButCannotPredict())
    sturdy = _result("sturdy", 0.5, DummyRegressor())
    chosen = fit_best_that_fits([fragile, sturdy], X, y, "r2", failed, holdout=X.head(5))
    assert chosen is sturdy
    assert failed == {"fragile": "predicting the holdout: ValueError: cannot predict these rows"}
