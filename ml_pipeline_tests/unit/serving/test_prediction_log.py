"""The prediction log: queued appends, atomic Parquet files per flush, windowed reads."""

import datetime as dt
import json
import time

import pytest

from ml_pipeline.core.monitor.prediction_log import LoggedRequest, read_prediction_log
from ml_pipeline.serving.log_writer import PredictionLog

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def record(minutes: float, status: int = 200, inputs: dict | None = None) -> LoggedRequest:
    return LoggedRequest(
        time=NOW + dt.timedelta(minutes=minutes),
        endpoint="/invocations",
        model_version="3",
        status=status,
        rows=2 if status == 200 else 0,
        latency_ms=4.5,
        inputs=inputs,
        outputs=[1.0, 2.0] if inputs else None,
    )


def test_records_written_on_close_are_read_back_in_their_window(tmp_path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=60)
    log.start()
    for minutes in (-90, -5, 0, 5):
        log.append(record(minutes, inputs={"temp": [1.5, None]}))
    log.append(record(6, status=422))
    log.close()
    files = list(tmp_path.rglob("*.parquet"))
    assert [f.parent.name for f in files] == ["date=2026-03-01"]
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    found = read_prediction_log(
        tmp_path, NOW - dt.timedelta(minutes=10), NOW + dt.timedelta(hours=1)
    )
    assert found["status"].tolist() == [200, 200, 200, 422]
    assert found["time"].is_monotonic_increasing
    assert json.loads(found["inputs"][0]) == {"temp": [1.5, None]}
    assert json.loads(found["outputs"][0]) == [1.0, 2.0]
    assert found["inputs"].isna().tolist() == [False, False, False, True]


def test_the_writer_flushes_while_running(tmp_path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=0.05)
    log.start()
    try:
        log.append(record(0))
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while not list(tmp_path.rglob("*.parquet")) and dt.datetime.now() < deadline:
            pass
        assert list(tmp_path.rglob("*.parquet"))
    finally:
        log.close()


def test_a_full_queue_drops_records_and_says_so(tmp_path) -> None:
    dropped = []
    log = PredictionLog(
        tmp_path, flush_seconds=60, max_pending=2, on_drop=lambda: dropped.append(1)
    )
    for minutes in range(5):
        log.append(record(minutes))
    log.close()
    assert len(dropped) == 3
    assert len(read_prediction_log(tmp_path, NOW, NOW + dt.timedelta(hours=1))) == 2


def test_records_encoded_between_files_still_count_as_pending(tmp_path) -> None:
    dropped = []
    log = PredictionLog(
        tmp_path, flush_seconds=60, max_pending=2, on_drop=lambda: dropped.append(1)
    )
    log.start()
    try:
        log.append(record(0, inputs={"temp": [1.0]}))
        log.append(record(1, inputs={"temp": [2.0]}))
        deadline = time.monotonic() + 5
        while not log._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log._queue.empty(), "the writer did not encode the queued records"
        assert not list(tmp_path.rglob("*.parquet"))  # encoded, not yet written
        log.append(record(2))
    finally:
        log.close()
    assert dropped == [1]
    found = read_prediction_log(tmp_path, NOW, NOW + dt.timedelta(hours=1))
    assert [json.loads(text)["temp"] for text in found["inputs"]] == [[1.0], [2.0]]


def test_records_of_a_failed_write_are_written_by_the_next_flush(tmp_path) -> None:
    folder = tmp_path / "log"
    folder.write_text("a file where the log's folder should be")
    log = PredictionLog(folder, flush_seconds=60)
    log.append(record(0))
    with pytest.raises(OSError):
        log.flush()
    log.append(record(1, status=422))
    folder.unlink()
    log.flush()
    found = read_prediction_log(folder, NOW, NOW + dt.timedelta(hours=1))
    assert found["status"].tolist() == [200, 422]
    assert len(list(folder.rglob("*.parquet"))) == 1


def test_the_writer_reports_a_failed_write_until_one_succeeds(tmp_path) -> None:
    folder = tmp_path / "log"
    folder.write_text("a file where the log's folder should be")
    log = PredictionLog(folder, flush_seconds=0.05)
    log.start()
    try:
        log.append(record(0))
        deadline = time.monotonic() + 5
        while not log.write_errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.last_error is not None and str(folder) in log.last_error
        folder.unlink()
        while not list(folder.rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
        while log.last_error is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.last_error is None
    finally:
        log.close()
    assert len(read_prediction_log(folder, NOW, NOW + dt.timedelta(hours=1))) == 1


def test_rows_kept_after_a_failed_write_count_towards_the_limit(tmp_path) -> None:
    folder = tmp_path / "log"
    folder.write_text("a file where the log's folder should be")
    dropped = []
    log = PredictionLog(folder, flush_seconds=60, max_pending=2, on_drop=lambda: dropped.append(1))
    log.append(record(0))
    log.append(record(1))
    with pytest.raises(OSError):
        log.flush()
    log.append(record(2))
    assert dropped == [1]


def test_a_record_that_cannot_be_encoded_does_not_stop_the_writer(tmp_path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=0.3)
    log.start()
    try:
        log.append(record(0, inputs={"temp": [object()]}))
        deadline = time.monotonic() + 5
        while not log.write_errors and time.monotonic() < deadline:
            time.sleep(0.01)
        reported = log.last_error
        log.append(record(1, inputs={"temp": [2.0]}))
        while not list(tmp_path.rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        log.close()
    assert log.write_errors >= 1 and "TypeError" in reported
    found = read_prediction_log(tmp_path, NOW, NOW + dt.timedelta(hours=1))
    assert [json.loads(text)["temp"] for text in found["inputs"]] == [[2.0]]


def test_an_empty_log_reads_as_no_records(tmp_path) -> None:
    found = read_prediction_log(tmp_path / "missing", NOW, NOW + dt.timedelta(days=2))
    assert found.empty
    assert "latency_ms" in found.columns
