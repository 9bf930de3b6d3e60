"""Serving monitoring: volume, errors and latency, and drift of the scored inputs."""

import datetime as dt
import json

import numpy as np
import pandas as pd

from ml_pipeline.core.monitor.monitoring import sampled_inputs, summarize
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.core.monitor.reference import MAJOR_SHIFT, build_reference

START = pd.Timestamp("2026-03-01 10:00", tz="UTC")


def training_frame(rng: np.random.Generator, rows: int = 2000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": rng.normal(10, 5, rows),
            "weather": rng.choice(["clear", "rain"], rows, p=[0.8, 0.2]),
            "y": rng.normal(size=rows),
        }
    )


def log_of(frames: list[pd.DataFrame], statuses: list[int]) -> pd.DataFrame:
    records = []
    for i, (frame, status) in enumerate(zip(frames, statuses, strict=True)):
        records.append(
            {
                "time": START + pd.Timedelta(minutes=40 * i),
                "endpoint": "/invocations",
                "model_version": "2" if i % 2 else "1",
                "status": status,
                "rows": len(frame) if status == 200 else 0,
                "latency_ms": float(i + 1),
                "error": None,
                "inputs": json.dumps(frame.to_dict("list")) if status == 200 else None,
                "outputs": None,
            }
        )
    return pd.DataFrame(records)


def test_volume_errors_and_versions_are_counted() -> None:
    rng = np.random.default_rng(0)
    frames = [training_frame(rng, 10).drop(columns="y") for _ in range(4)]
    log = log_of(frames, [200, 200, 422, 200])
    report = summarize(log, None, START.to_pydatetime(), START.to_pydatetime())
    assert report.requests == 4
    assert report.rejected == 1
    assert report.rows_scored == 30
    assert report.by_version == {"1": 1, "2": 2}
    assert report.by_hour["requests"].tolist() == [2, 1, 1]
    assert report.latency_p50_ms == 2.5
    assert report.drift is None


def test_drift_is_found_in_shifted_inputs_only() -> None:
    rng = np.random.default_rng(1)
    reference = build_reference(training_frame(rng), "y", [], None, ["temp", "weather"])
    same = training_frame(rng, 3000).drop(columns="y")
    # Mostly rain, not only rain: a column constant in the window is judged apart.
    mostly_rain = np.where(rng.random(len(same)) < 0.9, "rain", same["weather"])
    shifted = same.assign(temp=same["temp"] + 15, weather=mostly_rain)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    calm = summarize(log_of([same], [200]), reference, start, start).drift
    moved = summarize(log_of([shifted], [200]), reference, start, start).drift
    assert calm.overall < 0.1
    assert moved.shifted() == ["temp", "weather"]
    assert moved.overall > MAJOR_SHIFT


def test_sampled_inputs_take_the_latest_rows_up_to_the_cap() -> None:
    frames = [pd.DataFrame({"temp": [float(i)] * 5}) for i in range(10)]
    inputs = sampled_inputs(log_of(frames, [200] * 10), max_rows=12)
    assert len(inputs) == 15
    assert sorted(set(inputs["temp"])) == [7.0, 8.0, 9.0]


def test_columns_missing_from_some_requests_are_null_there() -> None:
    frames = [pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [2.0], "b": ["x"]})]
    inputs = sampled_inputs(log_of(frames, [200, 200]), max_rows=100)
    assert inputs["b"].iloc[0] == "x" and pd.isna(inputs["b"].iloc[1])
    assert inputs["a"].tolist() == [2.0, 1.0]


def test_an_empty_log_says_no_data_rather_than_zeros(tmp_path) -> None:
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    reference = build_reference(training_frame(np.random.default_rng(2)), "y", [], None, ["temp"])
    report = summarize(read_prediction_log(tmp_path, start, start), reference, start, start)
    assert (report.requests, report.rejected, report.rows_scored) == (0, 0, 0)
    assert report.by_version == {} and report.latency_p99_ms is None
    assert report.error_share() is None
    assert report.drift is None
    assert report.drift_unmeasured == "not measured: no scored inputs in the window"
    figures = report.figures()
    assert figures["latency"] == "no requests in the window"
    assert figures["input_drift"] == report.drift_unmeasured
    assert not {"latency_p50_ms", "latency_p99_ms", "rejected_share"} & set(figures)


def test_measured_figures_are_reported_as_numbers() -> None:
    rng = np.random.default_rng(4)
    reference = build_reference(training_frame(rng), "y", [], None, ["temp", "weather"])
    frames = [training_frame(rng, 200).drop(columns="y") for _ in range(2)]
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    figures = summarize(log_of(frames, [200, 422]), reference, start, start).figures()
    assert figures["rejected_share"] == 0.5 and figures["latency_p50_ms"] == 1.5
    assert isinstance(figures["input_drift_overall_psi"], float)
    assert "latency" not in figures and "input_drift" not in figures


def test_drift_without_a_reference_says_why() -> None:
    frames = [training_frame(np.random.default_rng(3), 10).drop(columns="y")]
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    report = summarize(log_of(frames, [200]), None, start, start)
    assert report.drift is None
    assert "no reference profile" in report.drift_unmeasured
