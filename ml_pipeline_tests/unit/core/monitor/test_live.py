"""Late labels joined to served predictions: live metrics, counts of what could not be
used, shadow agreement and decay on served rows."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_pipeline.core.monitor.live import (
    LabelFileError,
    LabelSet,
    agreement,
    collect_labels,
    join_labels,
    label_files,
    live_scores,
    read_label_file,
    served_rows,
)
from ml_pipeline.core.monitor.prediction_log import CHAMPION_ROLE, SHADOW_ROLE, LoggedRequest
from ml_pipeline.core.monitor.served import DecayRule, served_quality

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def _log(*records: LoggedRequest) -> pd.DataFrame:
    frame = pd.DataFrame([record.as_row() for record in records])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def _served(ids, predictions, version="1", role=CHAMPION_ROLE, when=NOW, probabilities=None):
    return LoggedRequest(
        time=when,
        endpoint="/predict",
        model_version=version,
        status=200,
        rows=len(ids),
        latency_ms=1.0,
        role=role,
        row_ids=list(ids),
        predictions=list(predictions),
        probabilities=probabilities,
    )


def _labels(ids, truth) -> LabelSet:
    return LabelSet(pd.DataFrame({"row_id": list(ids), "truth": list(truth), "file": "x.csv"}))


def test_a_labels_file_without_the_id_column_is_named_with_the_column(tmp_path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("id,count\n1,3\n")
    with pytest.raises(LabelFileError, match=r"late.csv: no 'ride_id' column"):
        read_label_file(path, "ride_id", "count", "regression")


def test_a_labels_file_without_the_target_is_named_with_the_target(tmp_path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("row_id,other\n1,3\n")
    with pytest.raises(LabelFileError, match=r"late.csv: no 'count' column"):
        read_label_file(path, "row_id", "count", "regression")


def test_an_unreadable_labels_file_is_reported_and_the_others_are_read(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("row_id,count\nx,3\ny,\n,4\n")
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    (tmp_path / ".hidden.csv").write_text("row_id,count\nz,1\n")
    found = collect_labels(label_files(tmp_path), "row_id", "count", "regression")
    assert found.files == 1 and found.rows["row_id"].tolist() == ["x"]
    assert found.incomplete == 2
    assert len(found.errors) == 1 and found.errors[0].startswith("b.parquet: cannot be read")


def test_ids_read_from_a_csv_keep_their_text_and_whole_numbers_lose_the_point(tmp_path) -> None:
    path = tmp_path / "late.csv"
    pd.DataFrame({"row_id": ["007", "a"], "label": [1.0, 2.0]}).to_csv(path, index=False)
    frame = read_label_file(path, "row_id", "label", "classification")
    assert frame["row_id"].tolist() == ["007", "a"]
    assert frame["truth"].tolist() == ["1", "2"]


def test_unmatched_and_duplicate_labels_are_counted_and_the_last_label_counts() -> None:
    served = served_rows(_log(_served(["a", "b", "c"], [1.0, 2.0, 3.0])), "regression")
    labels = _labels(["a", "a", "b", "b", "zz"], [9.0, 1.5, 2.0, 2.0, 7.0])
    join = join_labels(labels, served)
    assert (join.labels, join.matched, join.unmatched) == (3, 2, 1)
    assert (join.duplicates, join.conflicting) == (2, 1)
    assert dict(zip(join.scored["row_id"], join.scored["truth"], strict=True)) == {
        "a": 1.5,
        "b": 2.0,
    }


def test_live_metrics_are_per_version_and_role_with_an_interval_around_them() -> None:
    rng = np.random.default_rng(0)
    ids = [f"r{i}" for i in range(300)]
    truth = rng.normal(10, 3, 300)
    champion = truth + rng.normal(0, 1, 300)
    shadow = truth + rng.normal(0, 3, 300)
    log = _log(_served(ids, champion), _served(ids, shadow, version="2", role=SHADOW_ROLE))
    join = join_labels(_labels(ids, truth), served_rows(log, "regression"))
    scores = {(s.role, s.version): s for s in live_scores(join, "rmse", 0.9, 300, 0)}
    expected = float(np.sqrt(np.mean((champion - truth) ** 2)))
    mine = scores[(CHAMPION_ROLE, "1")]
    assert mine.rows == 300 and mine.value == pytest.approx(expected)
    assert mine.low < mine.value < mine.high
    assert scores[(SHADOW_ROLE, "2")].value > mine.high


def test_classification_labels_match_predictions_however_the_file_wrote_them() -> None:
    probabilities = [{"0": 0.2, "1": 0.8}, {"0": 0.9, "1": 0.1}, {"0": 0.6, "1": 0.4}]
    log = _log(_served(["a", "b", "c"], [1, 0, 0], probabilities=probabilities))
    labels = LabelSet(pd.DataFrame({"row_id": ["a", "b", "c"], "truth": ["1", "0", "1"]}))
    join = join_labels(labels, served_rows(log, "classification"))
    [score] = live_scores(join, "accuracy", 0.9, 100, 0)
    assert score.value == pytest.approx(2 / 3)


def test_agreement_is_the_share_of_rows_both_versions_scored_alike() -> None:
    log = _log(
        _served(["a", "b", "c", "d"], [10.0, 20.0, 30.0, 40.0]),
        _served(["a", "b", "c"], [10.1, 25.0, 30.0], version="2", role=SHADOW_ROLE),
    )
    rows, share = agreement(served_rows(log, "regression"), "1", "2", "regression", 0.05)
    assert (rows, share) == (3, pytest.approx(2 / 3))
    assert agreement(served_rows(log, "regression"), "1", "9", "regression", 0.05) == (0, None)


@settings(max_examples=60, deadline=None)
@given(
    served_ids=st.lists(st.text("abc", min_size=1, max_size=3), unique=True, max_size=20),
    labelled=st.lists(
        st.tuples(st.text("abcd", min_size=1, max_size=3), st.floats(-1e6, 1e6)), max_size=30
    ),
)
def test_every_label_is_matched_unmatched_or_a_duplicate(served_ids, labelled) -> None:
    log = _log(_served(served_ids, [0.0] * len(served_ids))) if served_ids else None
    served = (
        served_rows(log, "regression")
        if log is not None
        else served_rows(_log(_served([], [])).iloc[0:0], "regression")
    )
    labels = _labels([i for i, _ in labelled], [v for _, v in labelled])
    join = join_labels(labels, served)
    assert join.matched + join.unmatched + join.duplicates == len(labelled)
    assert len(join.scored) == join.matched
    assert set(join.scored["row_id"]) <= set(served_ids)


def _rule(margin=0.1, min_rows=100) -> DecayRule:
    return DecayRule("rmse", margin, min_rows, 0.95, 300, 0)


def _decay_case(noise: float, rows: int = 400, when=NOW):
    rng = np.random.default_rng(1)
    ids = [f"r{i}" for i in range(rows)]
    truth = rng.normal(10, 3, rows)
    log = _log(_served(ids, truth + rng.normal(0, noise, rows), when=when))
    return log, _labels(ids, truth)


def test_the_champion_decays_on_served_rows_only_beyond_margin_and_noise() -> None:
    log, labels = _decay_case(noise=3.0)
    decayed = served_quality(log, labels, "regression", "1", 1.0, _rule(), 0.05)
    assert decayed.decay is not None and decayed.decay.decayed
    log, labels = _decay_case(noise=1.0)
    steady = served_quality(log, labels, "regression", "1", 1.0, _rule(), 0.05)
    assert steady.decay is not None and not steady.decay.decayed


def test_decay_is_not_judged_on_few_rows_rows_before_the_last_training_or_when_off() -> None:
    log, labels = _decay_case(noise=3.0, rows=50)
    few = served_quality(log, labels, "regression", "1", 1.0, _rule(), 0.05)
    assert few.decay is None and "50 labelled served row(s) of v1" in few.decay_unjudged
    log, labels = _decay_case(noise=3.0)
    later = NOW + dt.timedelta(hours=1)
    answered = served_quality(log, labels, "regression", "1", 1.0, _rule(), 0.05, later)
    assert answered.decay is None and "since the last training" in answered.decay_unjudged
    off = served_quality(log, labels, "regression", "1", 1.0, _rule(margin=None), 0.05)
    assert off.decay is None and off.decay_unjudged.startswith("off")


def test_figures_report_every_count_and_each_shadows_agreement() -> None:
    log = _log(
        _served(["a", "b"], [1.0, 2.0]),
        _served(["a", "b"], [1.0, 9.0], version="2", role=SHADOW_ROLE),
    )
    quality = served_quality(
        log, _labels(["a", "q"], [1.0, 3.0]), "regression", "1", 1.0, _rule(), 0.05
    )
    figures = quality.figures()
    assert figures["matched_labels"] == 1 and figures["unmatched_labels"] == 1
    assert figures["shadow_v2_agreement"] == 0.5 and figures["shadow_v2_rows"] == 2
    assert json.dumps(figures, default=str)
