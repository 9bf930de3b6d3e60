"""The refit's configuration: early-stopped boosting refits with the rounds it found."""

import numpy as np
import pandas as pd

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.model.refit import refit_configuration
from ml_pipeline.core.model.training import fit_configuration


def _data(rows: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    return X, 3 * X["a"] - X["b"] + rng.normal(0, 0.5, rows)


def _fitted(candidate: CandidateConfig) -> object:
    X, y = _data()
    return fit_configuration(candidate, "regression", X, y, None, [], 0)


def test_early_stopped_boosting_refits_with_its_rounds_and_no_held_back_rows() -> None:
    chosen = CandidateConfig(
        name="hgb",
        estimator="hist_gradient_boosting",
        params={
            "max_iter": 300,
            "early_stopping": True,
            "n_iter_no_change": 5,
            "learning_rate": 0.3,
        },
    )
    challenger = _fitted(chosen)
    rounds = challenger.named_steps["model"].n_iter_
    assert rounds < 300  # it did stop early, so the test means something

    again = refit_configuration(chosen, challenger)

    assert again.params == {**chosen.params, "early_stopping": False, "max_iter": rounds}
    refit = _fitted(again).named_steps["model"]
    assert refit.n_iter_ == rounds and not refit.do_early_stopping_


def test_other_estimators_refit_as_they_were_chosen() -> None:
    for chosen in (
        CandidateConfig(name="linear", estimator="linear", params={"alpha": 1.0}),
        CandidateConfig(
            name="hgb", estimator="hist_gradient_boosting", params={"early_stopping": False}
        ),
    ):
        assert refit_configuration(chosen, _fitted(chosen)) == chosen
