"""model.onnx against the scikit-learn pipeline it came from, on rows shaped the way
clients send them: gaps, None, unseen categories, codes read as numbers."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime", reason="the edge extra is not installed")
pytest.importorskip("skl2onnx", reason="the edge extra is not installed")

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.deploy.onnx_export import (
    edge_variant,
    export_onnx,
    parity,
)
from ml_pipeline.core.model import training
from ml_pipeline_tests.churn_data import churn_batch

TOLERANCE = 1e-3


def _fit(name: str, task: str, X, y, timestamp=None, ignored=(), **params):
    candidate = CandidateConfig(name=name, estimator=name, params=params)
    return training.fit_configuration(candidate, task, X, y, timestamp, list(ignored), 0)


@pytest.fixture(scope="module")
def bikes(tmp_path_factory):
    """Demo bike rows as cleaning leaves them (unreadable numbers become gaps), and
    rows to score with gaps and a category never seen in training."""
    folder = tmp_path_factory.mktemp("bikes")
    paths = write_demo_data(DemoSpec(batches=3, rows_per_batch=400), folder, folder / "truth")
    frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    for column in ("temp", "humidity", "windspeed"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    y = frame.pop("count")
    X = frame.drop(columns=["casual", "registered"])
    scored = X.sample(300, random_state=3).reset_index(drop=True)
    scored.loc[:20, "weather"] = "hail"
    scored.loc[21:40, "temp"] = None
    scored.loc[41:50, "season"] = None
    return X, y, scored


def _bike_model(bikes, name, **params):
    X, y, _ = bikes
    return _fit(name, "regression", X, y, "timestamp", ["record_id"], **params)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("linear", {}),
        ("linear", {"clip_outliers": True}),
        ("random_forest", {"n_estimators": 15}),
    ],
)
def test_linear_and_forest_regressors_convert_exactly(bikes, name, params) -> None:
    pipeline = _bike_model(bikes, name, **params)
    result = parity(
        pipeline, export_onnx(pipeline, "regression"), bikes[2], "regression", TOLERANCE
    )
    assert result.passed, result.describe()
    assert result.rows == 300 and result.max_difference < TOLERANCE


def test_the_gate_catches_gradient_boosting_with_native_categories(bikes) -> None:
    pipeline = _bike_model(bikes, "hist_gradient_boosting", max_iter=40)
    assert pipeline[-1].categorical_features is not None
    result = parity(
        pipeline, export_onnx(pipeline, "regression"), bikes[2], "regression", TOLERANCE
    )
    assert not result.passed
    assert result.describe().startswith(f"ONNX parity failed: {result.differing} of 300 rows")
    assert result.differing > 30 and result.max_difference > 1.0


def test_the_edge_variant_of_gradient_boosting_converts_exactly(bikes) -> None:
    X, y, scored = bikes
    native = _bike_model(bikes, "hist_gradient_boosting", max_iter=40)
    variant = edge_variant(native, X, y)
    assert variant[-1].categorical_features is None
    result = parity(variant, export_onnx(variant, "regression"), scored, "regression", TOLERANCE)
    assert result.passed, result.describe()
    # The same fitted feature and preprocessing steps; only the estimator was refit.
    assert variant[0] is native[0] and variant[1] is native[1]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("linear", {}),
        ("linear", {"clip_outliers": True}),
        ("random_forest", {"n_estimators": 15}),
    ],
)
def test_classifiers_give_the_same_labels_and_probabilities(name, params) -> None:
    frame = pd.concat([churn_batch(i) for i in range(4)], ignore_index=True)
    frame["support_calls"] = frame["support_calls"].astype(float)
    frame.loc[::17, "support_calls"] = np.nan
    y = frame.pop("churned")
    pipeline = _fit(name, "classification", frame, y, None, ["customer_id"], **params)
    scored = pd.concat([churn_batch(9)], ignore_index=True).drop(columns=["churned"])
    scored.loc[:5, "region"] = "moon"
    scored.loc[6:9, "plan"] = None
    model = export_onnx(pipeline, "classification")
    result = parity(pipeline, model, scored, "classification", TOLERANCE)
    assert result.passed, result.describe()


def _edge_inputs(bikes, thresholds: dict[str, float]):
    from ml_pipeline.core.deploy.edge import EdgeInputs

    X, y, scored = bikes
    holdout = X.index[-300:]
    return EdgeInputs(
        check_rows=scored,
        holdout_X=X.loc[holdout],
        holdout_y=y.loc[holdout],
        training_rows=lambda: (X.drop(index=holdout), y.drop(index=holdout)),
        thresholds=thresholds,
        tolerance=TOLERANCE,
    )


def test_a_variant_that_meets_the_thresholds_is_published_with_its_metrics(bikes) -> None:
    from ml_pipeline.core.deploy.edge import build_edge_model

    native = _bike_model(bikes, "hist_gradient_boosting", max_iter=40)
    outcome = build_edge_model(native, native, "regression", _edge_inputs(bikes, {"r2": 0.3}))
    assert outcome.published and outcome.variant and outcome.model
    assert outcome.note.startswith("ONNX parity failed: ")
    assert "published an edge-compatible variant" in outcome.note
    assert outcome.variant_metrics["r2"] >= 0.3


def test_a_variant_below_the_thresholds_is_not_published(bikes) -> None:
    from ml_pipeline.core.deploy.edge import build_edge_model

    native = _bike_model(bikes, "hist_gradient_boosting", max_iter=40)
    outcome = build_edge_model(native, native, "regression", _edge_inputs(bikes, {"r2": 0.9999}))
    assert not outcome.published and outcome.model is None
    assert "converts exactly but r2" in outcome.note and "below the threshold" in outcome.note
    assert outcome.variant_metrics is not None
