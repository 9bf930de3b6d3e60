import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from ml_pipeline.core.model.bootstrap import Predictions, gain_bounds, score_of


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.normal(10, 3, 2000))
    good = Predictions(y.to_numpy() + rng.normal(0, 1, 2000))
    poor = Predictions(y.to_numpy() + rng.normal(0, 2, 2000))
    return y, good, poor


def test_scores_match_scikit_learn(regression) -> None:
    y, good, _ = regression
    assert score_of("rmse", y, good) == pytest.approx(
        metrics.root_mean_squared_error(y, good.values)
    )
    assert score_of("mae", y, good) == pytest.approx(metrics.mean_absolute_error(y, good.values))
    assert score_of("r2", y, good) == pytest.approx(metrics.r2_score(y, good.values))
    rng = np.random.default_rng(1)
    labels = ["a", "b", "c"]
    truth = pd.Series(rng.choice(labels, 500, p=[0.7, 0.2, 0.1]))
    said = np.where(rng.random(500) < 0.7, truth, rng.choice(labels, 500))
    proba = rng.dirichlet([1, 1, 1], 500)
    predictions = Predictions(said, proba, labels)
    assert score_of("f1_macro", truth, predictions) == pytest.approx(
        metrics.f1_score(truth, said, average="macro")
    )
    assert score_of("accuracy", truth, predictions) == pytest.approx(
        metrics.accuracy_score(truth, said)
    )
    assert score_of("log_loss", truth, predictions) == pytest.approx(
        metrics.log_loss(truth, proba, labels=labels)
    )


def test_a_real_gain_has_a_positive_lower_bound(regression) -> None:
    y, good, poor = regression
    assert gain_bounds(y, good, poor, "rmse", 0.95, 500, 0) > 0
    assert gain_bounds(y, poor, good, "rmse", 0.95, 500, 0) < 0


def test_a_gain_of_one_row_on_a_tiny_holdout_is_noise() -> None:
    """The defect: on 19 holdout rows, one more right answer promoted a new version."""
    truth = pd.Series([0, 1, 2] * 6 + [0])
    champion = truth.to_numpy().copy()
    champion[:4] = (champion[:4] + 1) % 3
    challenger = champion.copy()
    challenger[0] = truth[0]
    assert score_of("accuracy", truth, Predictions(challenger)) > score_of(
        "accuracy", truth, Predictions(champion)
    )
    low = gain_bounds(
        truth, Predictions(challenger), Predictions(champion), "accuracy", 0.95, 1000, 0
    )
    assert low <= 0


class CountingModel:
    """A fitted estimator that counts its predict calls."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, 0
        if hasattr(model, "classes_"):
            self.classes_ = model.classes_

    def predict(self, X):
        self.calls += 1
        return self.model.predict(X)

    def predict_proba(self, X):
        return self.model.predict_proba(X)


def test_scores_from_one_prediction_equal_scoring_the_model_again() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from ml_pipeline.core.model.evaluation import score

    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = pd.Series(2 * X["a"] - X["b"] + rng.normal(0, 0.5, 300))
    regressor = CountingModel(LinearRegression().fit(X, y))
    said = Predictions.of(regressor, X)
    assert said.scores(y, "regression") == score(regressor.model, X, y, "regression")
    assert regressor.calls == 1

    # The holdout holds a class the model never saw: scores stay on the model's classes.
    labels = pd.Series(np.where(X["a"] > 0.5, "high", np.where(X["a"] < -0.5, "low", "mid")))
    classifier = LogisticRegression().fit(X[labels != "low"], labels[labels != "low"])
    seen = sorted(set(classifier.classes_) | set(labels))
    said = Predictions.of(classifier, X, seen)
    assert said.scores(labels, "classification", list(classifier.classes_)) == score(
        classifier, X, labels, "classification"
    )
    with pytest.raises(ValueError, match="probabilities"):
        Predictions(said.values).scores(labels, "classification", list(classifier.classes_))
