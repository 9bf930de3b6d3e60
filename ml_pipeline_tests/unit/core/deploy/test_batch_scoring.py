"""Scoring a file's rows with lineage, on frames shaped the way files arrive."""

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.deploy import batch_scoring
from ml_pipeline.core.model import training
from ml_pipeline.core.tracking import MlflowStore


def rows(count: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=count, freq="h"),
            "temp": rng.normal(15, 5, count),
            "weather": rng.choice(["clear", "rain"], count),
        }
    )


def fitted(task: str):
    X = rows(80)
    signal = 2.0 * X["temp"] + (X["weather"] == "rain") * 5.0
    y = signal if task == "regression" else pd.Series(np.where(signal > 32, "busy", "calm"))
    candidate = CandidateConfig(name="linear", estimator="linear")
    return training.fit_configuration(candidate, task, X, y, "timestamp", [], 0)


def as_read_from_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns with gaps, as the intake hands over a CSV."""
    text = frame.astype(str).astype(object)
    text.loc[1, "temp"] = None
    text.loc[2, "weather"] = None
    text.loc[3, "weather"] = "snow"  # a category the model never saw
    return text.assign(note="stray column")


def test_every_row_gets_a_prediction_and_its_lineage() -> None:
    model = fitted("regression")
    frame = as_read_from_csv(rows(25, seed=1))

    scored = batch_scoring.score_frame(
        frame, model, version="3", partition_key="day7", source="day7.csv"
    )

    assert len(scored) == len(frame)
    assert scored[batch_scoring.PREDICTION].notna().all()
    assert (scored[batch_scoring.MODEL_VERSION] == "3").all()
    assert (scored[batch_scoring.INPUT_PARTITION] == "day7").all()
    assert scored[batch_scoring.INPUT_ROW].tolist() == list(range(1, 26))
    pd.testing.assert_frame_equal(scored[frame.columns], frame)
    expected = model.predict(rows(25, seed=1).iloc[4:])
    np.testing.assert_allclose(scored[batch_scoring.PREDICTION].iloc[4:], expected, rtol=1e-9)


def test_chunked_scoring_equals_scoring_at_once() -> None:
    model = fitted("classification")
    frame = rows(50, seed=2)

    whole = batch_scoring.score_frame(frame, model, version="1", partition_key="k", source="f")
    chunked = batch_scoring.score_frame(
        frame, model, version="1", partition_key="k", source="f", chunk_rows=7
    )

    pd.testing.assert_frame_equal(whole, chunked)
    shares = whole[[f"{batch_scoring.PROBABILITY_PREFIX}{c}" for c in ("busy", "calm")]]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert set(whole[batch_scoring.PREDICTION]) <= {"busy", "calm"}


def test_a_file_without_a_column_the_model_reads_is_named() -> None:
    frame = rows(5).drop(columns=["temp"])
    with pytest.raises(batch_scoring.BatchScoringError, match=r"^day2\.csv: .*version 4.*temp"):
        batch_scoring.score_frame(
            frame, fitted("regression"), version="4", partition_key="day2", source="day2.csv"
        )


def test_a_column_the_scores_would_overwrite_is_refused() -> None:
    frame = rows(5).assign(prediction=1.0)
    with pytest.raises(batch_scoring.BatchScoringError, match="prediction would be overwritten"):
        batch_scoring.score_frame(
            frame, fitted("regression"), version="1", partition_key="k", source="f.csv"
        )


@pytest.fixture
def empty_store(tmp_path) -> MlflowStore:
    store = MlflowStore(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="scoring",
        registered_model="nothing_yet",
        artifact_root=tmp_path / "artifacts",
    )
    store.activate()
    return store


def test_without_a_champion_scoring_says_to_train_first(empty_store) -> None:
    with pytest.raises(batch_scoring.BatchScoringError, match=r"no champion .*nothing_yet"):
        batch_scoring.resolve_version(empty_store, None)


@pytest.mark.parametrize(
    ("requested", "problem"),
    [("latest", "'latest' is not a version number"), ("7", "7 of 'nothing_yet' is not registered")],
)
def test_a_version_that_cannot_be_used_is_named(empty_store, requested, problem) -> None:
    with pytest.raises(batch_scoring.BatchScoringError, match=problem):
        batch_scoring.resolve_version(empty_store, requested)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_row_with_text_in_a_numeric_column_is_left_unscored_and_says_why(task) -> None:
    model = fitted(task)
    frame = rows(10, seed=3).astype(object)
    frame.loc[4, "temp"] = "21,3?"

    scored = batch_scoring.score_frame(frame, model, version="1", partition_key="k", source="f")

    errors = scored[batch_scoring.SCORE_ERROR]
    assert errors.iloc[4] == "column 'temp': '21,3?' is not a number"
    assert errors.drop(index=4).isna().all()
    assert pd.isna(scored[batch_scoring.PREDICTION].iloc[4])
    assert scored[batch_scoring.PREDICTION].drop(index=4).notna().all()
    expected = model.predict(rows(10, seed=3).drop(index=4))
    np.testing.assert_array_equal(scored[batch_scoring.PREDICTION].drop(index=4), expected)


def test_a_file_where_no_row_can_be_scored_fails_naming_the_first() -> None:
    frame = rows(3).astype(object).assign(temp="n/a?")
    with pytest.raises(
        batch_scoring.BatchScoringError,
        match=r"^bad\.csv: no row can be scored; row 1: column 'temp': 'n/a\?' is not a number",
    ):
        batch_scoring.score_frame(
            frame, fitted("regression"), version="1", partition_key="k", source="bad.csv"
        )


def test_another_column_order_scores_the_same() -> None:
    model = fitted("regression")
    frame = as_read_from_csv(rows(25, seed=3))
    reordered = frame[frame.columns[::-1]]

    kept = batch_scoring.score_frame(frame, model, version="1", partition_key="k", source="f")
    turned = batch_scoring.score_frame(reordered, model, version="1", partition_key="k", source="f")

    assert list(turned.columns[: len(frame.columns)]) == list(reordered.columns)
    np.testing.assert_allclose(
        turned[batch_scoring.PREDICTION], kept[batch_scoring.PREDICTION], rtol=1e-12
    )
