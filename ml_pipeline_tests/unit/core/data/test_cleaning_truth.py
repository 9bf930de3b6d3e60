"""Cleaning measured against the demo generator's ground truth of injected faults."""

import pytest

from ml_pipeline.config import CleaningConfig, DatasetConfig, OutlierConfig
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.demo_data import DemoSpec, generate_batch

DATASET = DatasetConfig(
    landing_dir="x",
    target="count",
    task="regression",
    timestamp_column="timestamp",
    id_columns=["record_id"],
    drop_columns=["casual", "registered"],
)
BATCHES = 30
SENSORS = ["temp", "humidity", "windspeed"]


def batches():
    return [generate_batch(DemoSpec(), i) for i in range(BATCHES)]


@pytest.fixture(scope="module")
def demo_batches():
    return batches()


def test_exact_duplicates_all_removed_and_nothing_else(demo_batches) -> None:
    for dirty, truth in demo_batches:
        cleaned, report = clean_batch(dirty, DATASET, CleaningConfig(missing="indicator"))
        assert report.duplicates_removed == (truth.fault == "duplicate").sum()
        assert sorted(cleaned.record_id) == sorted(dirty.record_id.unique())


@pytest.mark.parametrize("method", ["iqr", "zscore", "isolation_forest", "bounds"])
def test_injected_outliers_found_with_few_false_alarms(demo_batches, method) -> None:
    bounds = {"temp": (-30, 50), "humidity": (0, 100), "windspeed": (0, 120)}
    rules = OutlierConfig(method=method, bounds=bounds if method == "bounds" else {})
    found = missed = false_alarms = clean_rows = 0
    for dirty, truth in demo_batches:
        _, report = clean_batch(dirty, DATASET, CleaningConfig(outliers=rules))
        flagged = {dirty.at[i, "record_id"] for rows in report.outlier_index.values() for i in rows}
        injected = set(truth[truth.fault == "outlier"].record_id)
        found += len(flagged & injected)
        missed += len(injected - flagged)
        false_alarms += len(flagged - injected)
        clean_rows += dirty.record_id.nunique() - len(injected)
    assert found + missed > 20, "too few injected outliers to measure"
    assert found / (found + missed) >= 0.9
    assert false_alarms / clean_rows <= 0.01


def expected_missing(truth, report) -> dict[str, int]:
    """Injected gaps plus the values cleaning itself emptied: unparseable and outliers.

    The truth lists each faulty record once; its exact duplicate goes with deduplication.
    """
    counts = truth[truth.fault == "missing"].groupby("column").size().to_dict()
    for column, n in [*report.mistyped.items(), *report.outliers.items()]:
        counts[column] = counts.get(column, 0) + n
    return {c: n for c, n in counts.items() if n}


@pytest.mark.parametrize("policy", ["impute", "model", "indicator", "drop"])
def test_every_missing_value_treated_per_policy(demo_batches, policy) -> None:
    nulled = OutlierConfig(treatment="null")
    for dirty, truth in demo_batches[:10]:
        cleaned, report = clean_batch(dirty, DATASET, CleaningConfig(missing=policy, outliers=nulled))
        assert report.missing == expected_missing(truth, report)
        features = [*SENSORS, "weather", "station_id", "season", "holiday", "workingday"]
        if policy == "impute":
            assert report.imputed == report.missing
            assert cleaned[features].notna().all().all()
        elif policy in ("model", "indicator"):
            assert report.left_for_model == report.missing
            assert cleaned[features].isna().sum()[lambda s: s > 0].to_dict() == report.missing
        else:
            assert cleaned[features].notna().all().all()
            gaps = dirty.drop_duplicates()
            assert report.missing_rows_removed == len(gaps) - len(cleaned)
