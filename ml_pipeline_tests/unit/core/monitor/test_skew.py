"""Feature comparison between serving and training, on plain numbers."""

import math

import numpy as np
import pandas as pd

from ml_pipeline.core.monitor.skew import compare_features, feature_columns


def test_equal_features_and_shared_gaps_are_no_skew() -> None:
    found = compare_features(
        {"a": [1.0, math.nan], "b": [0.5, 0.25]}, {"a": [1.0, math.nan], "b": [0.5, 0.25]}
    )
    assert found.skewed == [] and found.sentence().startswith("none: 2 feature(s) agree on 2")


def test_a_shifted_feature_is_named_with_its_rows_and_largest_gap() -> None:
    found = compare_features(
        {"a": [1.0, 2.0, 3.0], "b": [0.0, math.nan, 1.0]},
        {"a": [1.0, 2.5, 3.0], "b": [0.0, 0.0, 1.0]},
    )
    by_name = {c.column: c for c in found.columns}
    assert (by_name["a"].differing, by_name["a"].max_difference) == (1, 0.5)
    assert by_name["b"].differing == 1  # missing on one side only
    assert found.skewed == ["a", "b"]


def test_a_feature_only_one_side_has_is_skew() -> None:
    found = compare_features({"a": [1.0], "extra": [2.0]}, {"a": [1.0]})
    assert found.skewed == ["extra"]


def test_feature_matrices_of_any_shape_become_named_columns() -> None:
    frame = pd.DataFrame({"x": [1, 2]})
    assert feature_columns(frame) == {"x": [1.0, 2.0]}
    assert feature_columns(np.array([[1.0, 2.0]])) == {"feature_0": [1.0], "feature_1": [2.0]}
    assert feature_columns(np.array([[1.0, 2.0]]), ["p", "q"]) == {"p": [1.0], "q": [2.0]}


def test_rows_the_training_pipeline_refuses_are_reported_as_skew_not_a_failure() -> None:
    from ml_pipeline.core.monitor.skew import served_skew

    class Refusing:
        steps = [("features", None), ("model", None)]

        def __getitem__(self, _):
            return self

        def transform(self, _frame):
            raise ValueError("column 'temp': 'warm' is not a number\nmore")

    log = pd.DataFrame(
        {
            "role": ["champion"],
            "model_version": ["1"],
            "raw_inputs": ['{"temp": ["warm"]}'],
            "features": ['{"feature_0": [1.0]}'],
        }
    )
    found = served_skew(log, "1", Refusing, 100)
    assert found.skewed and found.refused == "column 'temp': 'warm' is not a number"
    assert found.sentence().startswith("the training pipeline refuses 1 served row(s)")


def test_an_edge_exact_tree_compares_the_features_the_service_computes() -> None:
    # deploy.onnx puts a float32 cast before the trees; the service's features come
    # before it, so training's must too, or every number would read as skew.
    from ml_pipeline.config import CandidateConfig
    from ml_pipeline.core.model.compiled import compile_pipeline
    from ml_pipeline.core.model.training import build_pipeline
    from ml_pipeline.core.monitor.skew import training_features
    from ml_pipeline_tests.conftest import tiny_rows

    X = tiny_rows(200, seed=1)
    y = X["temp"] * 0.37
    candidate = CandidateConfig(name="hgb", estimator="hist_gradient_boosting")
    pipeline = build_pipeline(candidate, "regression", X, "timestamp", [], 0, edge_exact=True)
    pipeline.fit(X, y)
    served = compile_pipeline(pipeline).features(X.head(20))
    found = compare_features(feature_columns(served), training_features(pipeline, X.head(20)))
    assert found.skewed == [], found.sentence()
