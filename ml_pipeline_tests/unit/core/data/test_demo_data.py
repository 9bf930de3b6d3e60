import pandas as pd
import pytest

from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch, write_demo_data


def test_generation_is_deterministic() -> None:
    first, truth_a = generate_batch(DemoSpec(), 3)
    second, truth_b = generate_batch(DemoSpec(), 3)
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(truth_a, truth_b)
    other, _ = generate_batch(DemoSpec(seed=8), 3)
    assert not first.equals(other)


def test_injected_faults_match_the_ground_truth() -> None:
    rates = FaultRates(missing=0.05, duplicate=0.05, outlier=0.03, mistyped=0.02)
    batch, truth = generate_batch(DemoSpec(rows_per_batch=480, faults=rates), 0)
    clean_rows = 480
    duplicates = truth[truth.fault == "duplicate"]
    assert len(batch) == clean_rows + len(duplicates)
    assert batch.duplicated().sum() == len(duplicates)
    for fault in ("missing", "outlier", "mistyped"):
        assert len(truth[truth.fault == fault]) > 0, fault
    by_id = batch.drop_duplicates().set_index("record_id")
    for row in truth[truth.fault == "missing"].itertuples():
        assert pd.isna(by_id.at[row.record_id, row.column])
    for row in truth[truth.fault == "outlier"].itertuples():
        assert float(by_id.at[row.record_id, row.column]) == pytest.approx(float(row.value))
    for row in truth[truth.fault == "mistyped"].itertuples():
        assert pd.isna(pd.to_numeric(by_id.at[row.record_id, row.column], errors="coerce"))


def test_demand_has_a_learnable_signal() -> None:
    batch, _ = generate_batch(DemoSpec(faults=FaultRates(0, 0, 0, 0)), 10)
    hour = pd.to_datetime(batch.timestamp).dt.hour
    by_hour = batch.groupby(hour)["count"].mean()
    assert by_hour.loc[[8, 17]].mean() > 3 * by_hour.loc[[2, 3]].mean()


def test_drift_raises_later_batches() -> None:
    spec = DemoSpec(batches=20, faults=FaultRates(0, 0, 0, 0))
    drifted = DemoSpec(batches=20, drift=True, faults=FaultRates(0, 0, 0, 0))
    plain_late, _ = generate_batch(spec, 19)
    drift_late, _ = generate_batch(drifted, 19)
    drift_early, _ = generate_batch(drifted, 0)
    plain_early, _ = generate_batch(spec, 0)
    assert drift_late.temp.mean() > plain_late.temp.mean() + 4
    assert drift_early.temp.mean() == pytest.approx(plain_early.temp.mean())


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_writes_batches_and_truth_apart(tmp_path, file_format) -> None:
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    written = write_demo_data(DemoSpec(batches=3, file_format=file_format), landing, truth)
    assert [p.name for p in written] == [f"bikes_2024-01-0{i}.{file_format}" for i in (1, 2, 3)]
    assert sorted(p.name for p in landing.iterdir()) == [p.name for p in written]
    assert len(list(truth.glob("*.faults.csv"))) == 3
