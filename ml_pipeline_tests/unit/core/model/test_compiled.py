"""The compiled preprocessing reproduces the fitted pipeline, or refuses to stand in."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.model import compiled as compiled_module
from ml_pipeline.core.model.compiled import NotCompilable, compile_pipeline
from ml_pipeline.core.model.training import build_pipeline


def client_rows(count: int, seed: int) -> pd.DataFrame:
    """Rows as a client's ``read_csv`` gives them: float64 with gaps, None among the
    texts, codes read as numbers, a rare category."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(15, 5, count)
    temp[rng.random(count) < 0.1] = np.nan
    weather = rng.choice(["clear", "rain", "fog"], count).astype(object)
    weather[rng.random(count) < 0.05] = None
    weather[0] = "hail"  # seen once: pooled with the infrequent ones
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=count, freq="h").astype(str),
            "temp": temp,
            "weather": weather,
            "station": rng.choice([1.0, 2.0, 3.0, np.nan], count),
        }
    )


def fitted(estimator: str, task: str, missing_indicator: bool = False, edge_exact: bool = False):
    X = client_rows(400, 0)
    y = X["temp"].fillna(10) * 2 + (X["weather"] == "rain") * 5
    if task == "classification":
        y = np.where(y > y.median(), "busy", "quiet")
    candidate = CandidateConfig(name=estimator, estimator=estimator)
    pipeline = build_pipeline(
        candidate,
        task,
        X,
        "timestamp",
        [],
        seed=0,
        missing_indicator=missing_indicator,
        edge_exact=edge_exact,
    )
    return pipeline.fit(X, y)


def unseen_rows() -> pd.DataFrame:
    rows = client_rows(60, 1)
    rows.loc[0:4, "weather"] = ["snow", None, np.nan, " clear ", "hail"]
    rows.loc[5:7, "station"] = [9.0, np.nan, 1.0]
    rows.loc[8:9, "temp"] = [np.nan, 1e6]
    return rows


@pytest.mark.parametrize(
    ("estimator", "task", "indicator"),
    [
        ("hist_gradient_boosting", "regression", False),
        ("random_forest", "classification", True),
        ("linear", "regression", True),
        ("linear", "classification", False),
    ],
)
def test_compiled_scorer_predicts_what_the_pipeline_predicts(estimator, task, indicator):
    pipeline = fitted(estimator, task, indicator)
    scorer = compile_pipeline(pipeline)
    rows = unseen_rows()
    inputs = scorer.features(rows)
    np.testing.assert_array_equal(scorer.model.predict(inputs), pipeline.predict(rows))
    if task == "classification":
        np.testing.assert_array_equal(
            scorer.model.predict_proba(inputs), pipeline.predict_proba(rows)
        )


@pytest.mark.parametrize(
    ("estimator", "task"),
    [("hist_gradient_boosting", "regression"), ("random_forest", "classification")],
)
def test_an_edge_exact_tree_compiles_with_its_float32_step(estimator, task):
    pipeline = fitted(estimator, task, edge_exact=True)
    assert "float32" in pipeline.named_steps
    scorer = compile_pipeline(pipeline)
    rows = unseen_rows()
    np.testing.assert_array_equal(
        scorer.model.predict(scorer.features(rows)), pipeline.predict(rows)
    )


def test_the_compiled_step_matches_the_fitted_one_on_single_rows():
    pipeline = fitted("linear", "regression", missing_indicator=True)
    scorer = compile_pipeline(pipeline)
    rows = unseen_rows()
    for index in range(10):
        row = rows.iloc[[index]]
        expected = pipeline[:-1].transform(row)
        np.testing.assert_array_equal(scorer.features(row), expected)


def test_an_unsupported_step_leaves_the_pipeline_as_it_is():
    pipeline = fitted("linear", "regression")
    transformer: ColumnTransformer = pipeline.named_steps["preprocess"]
    name, _block, columns = transformer.transformers_[0]
    transformer.transformers_[0] = (name, FunctionTransformer().fit(None), columns)
    with pytest.raises(NotCompilable, match="FunctionTransformer"):
        compile_pipeline(pipeline)


def test_passthrough_columns_leave_the_pipeline_as_it_is():
    pipeline = fitted("hist_gradient_boosting", "regression")
    transformer: ColumnTransformer = pipeline.named_steps["preprocess"]
    transformer.transformers_.append(("kept", "passthrough", ["temp"]))
    with pytest.raises(NotCompilable, match="passthrough"):
        compile_pipeline(pipeline)


def test_a_compiled_step_that_differs_on_the_probe_is_refused(monkeypatch):
    def off_by_one(step):
        exact = original(step)
        return lambda values: exact(values) + 1.0

    original = compiled_module._scaler
    monkeypatch.setattr(compiled_module, "_scaler", off_by_one)
    with pytest.raises(NotCompilable, match="differs"):
        compile_pipeline(fitted("linear", "regression"))


def test_a_pipeline_without_a_column_transformer_is_not_compiled():
    pipeline = fitted("linear", "regression")
    with pytest.raises(NotCompilable, match="ColumnTransformer"):
        compile_pipeline(pipeline[-1:])


def test_category_codes_are_not_encoded_twice_when_the_recoding_is_the_identity():
    pipeline = fitted("hist_gradient_boosting", "classification")
    scorer = compile_pipeline(pipeline)
    assert scorer.model is not pipeline[-1]
    rows = unseen_rows()
    inputs = scorer.features(rows)
    np.testing.assert_array_equal(scorer.model.predict_proba(inputs), pipeline.predict_proba(rows))
    assert pipeline[-1]._preprocessor is not None  # the fitted model itself is untouched


def test_codes_the_model_recodes_keep_its_own_recoding():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    # Codes 0, 2 and 5: the model's encoder maps them to 0, 1 and 2, not the identity.
    X = pd.DataFrame({"code": [0.0, 2.0, 5.0, np.nan] * 30, "temp": np.arange(120.0)})
    y = X["code"].fillna(1) * 10 + X["temp"] % 7
    pipeline = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [("all", SimpleImputer(strategy="most_frequent"), ["code", "temp"])],
                    verbose_feature_names_out=False,
                ).set_output(transform="pandas"),
            ),
            ("model", HistGradientBoostingRegressor(categorical_features=[0], max_iter=20)),
        ]
    ).fit(X, y)
    scorer = compile_pipeline(pipeline)
    assert scorer.model is pipeline[-1]
    rows = pd.DataFrame({"code": [5.0, 2.0, np.nan, 0.0], "temp": [1.0, 2.0, 3.0, 4.0]})
    np.testing.assert_array_equal(
        scorer.model.predict(scorer.features(rows)), pipeline.predict(rows)
    )


def test_a_clipping_linear_model_compiles_and_predicts_what_the_pipeline_predicts():
    X = client_rows(400, 0)
    y = X["temp"].fillna(10) * 2
    candidate = CandidateConfig(name="linear", estimator="linear", params={"clip_outliers": True})
    pipeline = build_pipeline(candidate, "regression", X, "timestamp", [], seed=0).fit(X, y)
    scorer = compile_pipeline(pipeline)  # raises NotCompilable if it cannot stand in
    rows = unseen_rows()  # holds a temperature of 1e6: clipped in both paths
    np.testing.assert_array_equal(
        scorer.model.predict(scorer.features(rows)), pipeline.predict(rows)
    )
