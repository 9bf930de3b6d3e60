import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.model import evaluation
from ml_pipeline.core.model.training import (
    ONE_HOT_MAX_CATEGORIES,
    build_pipeline,
    pick_challenger,
    tune_candidate,
)
from ml_pipeline.core.tracking import SKOPS_TRUSTED_TYPES
from ml_pipeline_tests.frames import labelled_frame as data

ESTIMATORS = ["linear", "random_forest", "hist_gradient_boosting"]


def test_skops_trusted_types_are_exactly_those_used() -> None:
    used = set()
    for task in ("regression", "classification"):
        X, y = data(task)
        for estimator in ESTIMATORS:
            # The linear model clips its numbers: the clipper is shipped in the model too.
            params = {"clip_outliers": True} if estimator == "linear" else {}
            candidate = CandidateConfig(name=estimator, estimator=estimator, params=params)
            for edge_exact in (False, True):  # deploy.onnx adds a float32 step to trees
                model = build_pipeline(
                    candidate, task, X, "ts", ["id"], 0, edge_exact=edge_exact
                ).fit(X, y)
                found = set(sio.get_untrusted_types(data=sio.dumps(model)))
                assert found <= set(SKOPS_TRUSTED_TYPES), found - set(SKOPS_TRUSTED_TYPES)
                used |= found
    assert used == set(SKOPS_TRUSTED_TYPES)


@pytest.mark.parametrize("task,metric", [("regression", "rmse"), ("classification", "f1_macro")])
def test_tuning_is_reproducible_and_beats_the_baseline(task, metric) -> None:
    X, y = data(task)
    candidate = CandidateConfig(
        name="hgb", estimator="hist_gradient_boosting", search={"learning_rate": [0.05, 0.1]}
    )
    kwargs = dict(
        metric=metric,
        timestamp_column="ts",
        ignored_columns=["id"],
        folds=2,
        iterations=2,
        n_jobs=1,
        seed=3,
    )
    first = tune_candidate(candidate, task, X, y, **kwargs)
    second = tune_candidate(candidate, task, X, y, **kwargs)
    assert first.cv_score == second.cv_score and first.params == second.params
    model_scores = evaluation.score(first.model, X, y, task)
    baseline_scores = evaluation.score(evaluation.fit_baseline(task, y), X, y, task)
    better = evaluation.higher_is_better(metric)
    assert (model_scores[metric] > baseline_scores[metric]) == better


def test_a_search_told_not_to_fit_leaves_the_same_model_for_later() -> None:
    X, y = data("regression")
    candidate = CandidateConfig(
        name="forest",
        estimator="random_forest",
        params={"n_estimators": 5},
        search={"max_depth": [2, 6], "min_samples_leaf": [1, 5]},
    )
    kwargs = dict(
        metric="rmse",
        timestamp_column="ts",
        ignored_columns=["id"],
        folds=2,
        iterations=3,
        n_jobs=1,
        seed=3,
    )
    fitted = tune_candidate(candidate, "regression", X, y, **kwargs)
    deferred = tune_candidate(candidate, "regression", X, y, fit_best=False, **kwargs)
    assert deferred.model is None and deferred.params == fitted.params
    model = deferred.fit(X, y)
    assert deferred.fit(X, y) is model
    np.testing.assert_array_equal(model.predict(X), fitted.model.predict(X))


def test_classification_metrics_cover_probabilities() -> None:
    X, y = data("classification")
    model = build_pipeline(
        CandidateConfig(name="l", estimator="linear"), "classification", X, "ts", ["id"], 0
    ).fit(X, y)
    scores = evaluation.score(model, X, y, "classification")
    assert set(scores) == {"accuracy", "f1_macro", "log_loss", "roc_auc"}
    assert scores["roc_auc"] > 0.9


def test_pick_challenger_prefers_better_then_earlier() -> None:
    class R:
        def __init__(self, name, score):
            self.name, self.cv_score = name, score

    results = [R("a", 2.0), R("b", 1.0), R("c", 1.0)]
    assert pick_challenger(results, higher_better=False).name == "b"
    assert pick_challenger(results, higher_better=True).name == "a"


def test_linear_alpha_means_the_same_for_both_tasks() -> None:
    X, y = data("classification")
    candidate = CandidateConfig(
        name="l", estimator="linear", params={"alpha": 4.0}, search={"alpha": [0.5, 2.0]}
    )
    result = tune_candidate(
        candidate,
        "classification",
        X,
        y,
        metric="f1_macro",
        timestamp_column="ts",
        ignored_columns=["id"],
        folds=2,
        iterations=2,
        n_jobs=1,
        seed=0,
    )
    assert result.model.named_steps["model"].C in (2.0, 0.5)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_many_valued_column_keeps_the_design_matrix_narrow(estimator) -> None:
    X, y = data("regression", n=3000)
    X["station"] = [f"s{i % 200}" for i in range(len(X))]
    candidate = CandidateConfig(name=estimator, estimator=estimator)
    model = build_pipeline(candidate, "regression", X, "ts", ["id"], 0).fit(X, y)
    width = model[:-1].transform(X.head(5)).shape[1]
    assert width <= 10 + 2 * ONE_HOT_MAX_CATEGORIES
    unseen = X.head(3).assign(station="never-seen", c="w")
    assert np.isfinite(model.predict(unseen)).all()


def test_gradient_boosting_splits_categories_natively() -> None:
    X, y = data("regression")
    candidate = CandidateConfig(name="hgb", estimator="hist_gradient_boosting")
    model = build_pipeline(candidate, "regression", X, "ts", ["id"], 0).fit(X, y)
    assert model.named_steps["model"].is_categorical_.tolist()[:1] == [True]
    assert model.named_steps["model"].is_categorical_.sum() == 1


TUNING = dict(timestamp_column="ts", ignored_columns=["id"], folds=3, n_jobs=1, seed=0)


def test_classification_searches_balanced_class_weights_unless_the_candidate_sets_them() -> None:
    from ml_pipeline.core.model.training import search_space

    plain = CandidateConfig(name="rf", estimator="random_forest", search={"max_depth": [4, 8]})
    assert search_space(plain, "classification", True)["class_weight"] == [None, "balanced"]
    assert "class_weight" not in search_space(plain, "regression", True)
    assert "class_weight" not in search_space(plain, "classification", False)
    fixed = plain.model_copy(update={"params": {"class_weight": "balanced"}})
    assert "class_weight" not in search_space(fixed, "classification", True)


def test_balanced_weights_are_chosen_when_they_win_on_a_rare_class() -> None:
    rng = np.random.default_rng(1)
    n = 900
    X = pd.DataFrame(
        {"ts": pd.date_range("2024-01-01", periods=n, freq="h"), "a": rng.normal(size=n)}
    )
    X["id"] = range(n)
    # The rare class sits where the common one often is too: unweighted, it is never said.
    y = pd.Series(np.where((X["a"] > 1.2) & (rng.random(n) < 0.5), "rare", "common"))
    candidate = CandidateConfig(name="linear", estimator="linear")
    result = tune_candidate(
        candidate,
        "classification",
        X,
        y,
        metric="f1_macro",
        iterations=2,
        balance_classes=True,
        **TUNING,
    )
    assert result.params["class_weight"] == "balanced"
    assert result.tried == result.planned == 2


def test_roc_auc_search_survives_folds_that_lack_a_class() -> None:
    """The defect: ``promotion.metric: roc_auc`` crashed training with "Number of classes
    in y_true not equal to the number of columns in 'y_score'" when a time-ordered fold
    held no row of a class."""
    X, _ = data("classification", 300)
    y = pd.Series(np.where(np.arange(300) < 150, "a", np.where(np.arange(300) % 2, "b", "c")))
    y.iloc[:3] = ["b", "c", "b"]
    candidate = CandidateConfig(name="linear", estimator="linear", search={"alpha": [0.1, 1.0]})
    result = tune_candidate(
        candidate, "classification", X, y, metric="roc_auc", iterations=2, **TUNING
    )
    assert 0.5 <= result.cv_score <= 1.0


def test_the_search_stops_at_its_deadline_after_the_first_round() -> None:
    import time

    X, y = data("regression")
    candidate = CandidateConfig(
        name="hgb",
        estimator="hist_gradient_boosting",
        search={"learning_rate": [0.03, 0.1, 0.3], "max_leaf_nodes": [7, 15]},
    )
    spent = tune_candidate(
        candidate,
        "regression",
        X,
        y,
        metric="rmse",
        iterations=6,
        deadline=time.monotonic(),
        **TUNING,
    )
    assert (spent.tried, spent.planned) == (1, 6)
    unlimited = tune_candidate(candidate, "regression", X, y, metric="rmse", iterations=6, **TUNING)
    assert unlimited.tried == 6


def test_permutation_importance_lists_only_what_the_model_reads() -> None:
    from ml_pipeline.core.model.diagnostics import permutation_importances

    X, y = data("regression")
    X["dropped"] = 1.0
    candidate = CandidateConfig(name="linear", estimator="linear")
    model = build_pipeline(candidate, "regression", X, "ts", ["id", "dropped"], 0).fit(X, y)
    importances = permutation_importances(model, X, y, "rmse", 0)
    assert set(importances.index) == {"ts", "a", "c"}
    assert importances.index[0] == "a"


def test_a_missing_auc_is_explained() -> None:
    truth = pd.Series(["a"] * 5)
    scores = evaluation.classification_metrics(
        truth, np.array(["a"] * 5), np.tile([0.9, 0.1], (5, 1)), ["a", "b"]
    )
    assert "roc_auc" not in scores
    assert "AUC needs two" in evaluation.unmeasured(truth, ["a", "b"])["roc_auc"]


def test_the_trivial_baseline_is_fair_to_macro_f1_on_imbalanced_labels() -> None:
    """Always answering the majority gives macro F1 of about 0.44 at a 4:1 imbalance,
    which random guessing beats; labels drawn at the class rates score 1/K = 0.5."""
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(["common", "rare"], 5000, p=[0.8, 0.2]))
    X = pd.DataFrame({"a": np.zeros(len(y))})
    drawn = evaluation.score(
        evaluation.fit_baseline("classification", y, "f1_macro"), X, y, "classification"
    )
    majority = evaluation.score(
        evaluation.fit_baseline("classification", y, "accuracy"), X, y, "classification"
    )
    assert drawn["f1_macro"] == pytest.approx(0.5, abs=0.02)
    assert majority["f1_macro"] == pytest.approx(0.444, abs=0.01)
    assert majority["accuracy"] == pytest.approx(0.8, abs=0.02)
    assert majority["accuracy"] > drawn["accuracy"]
    assert drawn["log_loss"] == majority["log_loss"]  # both give the priors as probabilities


def test_the_search_decides_whether_clipping_helps_and_says_what_it_did() -> None:
    X, y = data("regression", n=1000)
    X.loc[[100, 700], "a"] = 1e4  # a sensor's spikes: the linear fit chases them unless clipped
    candidate = CandidateConfig(
        name="l", estimator="linear", search={"alpha": [1.0], "clip_outliers": [False, True]}
    )
    result = tune_candidate(
        candidate, "regression", X, y, metric="rmse", iterations=2, **{**TUNING, "folds": 2}
    )
    on, off = (float(part.split()[1]) for part in result.treatments["clip_outliers"].split(", "))
    assert on < off  # lower RMSE with the spikes clipped
    assert result.params["clip_outliers"] is True
    assert result.row("rmse")["treatments"] == result.treatments
    clipper = result.model.named_steps["preprocess"].named_transformers_["numeric"]["clip"]
    assert clipper.high_[0] < 1e4


def test_a_fixed_treatment_builds_its_step_and_leaves_the_estimator_alone() -> None:
    X, y = data("regression")
    candidate = CandidateConfig(
        name="l",
        estimator="linear",
        params={"alpha": 2.0, "clip_outliers": False, "missing_indicator": True},
    )
    model = build_pipeline(candidate, "regression", X, "ts", ["id"], 0).fit(X, y)
    numeric = model.named_steps["preprocess"].named_transformers_["numeric"]
    assert numeric["clip"].low_ is None and numeric["impute"].add_indicator
    assert model.named_steps["model"].alpha == 2.0
