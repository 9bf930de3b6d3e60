import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch
from ml_pipeline.core.monitor.reference import (
    MAJOR_SHIFT,
    ReferenceProfile,
    build_reference,
    drift,
    psi,
)

CLEAN = FaultRates(0, 0, 0, 0)
IGNORED = ["record_id", "casual", "registered"]


def frame(spec, days):
    batches = [generate_batch(spec, i)[0] for i in days]
    data = pd.concat(batches, ignore_index=True)
    for column in ("temp", "humidity", "windspeed"):
        data[column] = pd.to_numeric(data[column])
    return data


def test_psi_is_zero_for_equal_and_large_for_shifted() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert psi([0.5, 0.5], [0.9, 0.1]) > 0.25


def test_drift_is_low_within_and_high_under_injected_drift(tmp_path) -> None:
    spec = DemoSpec(batches=60, faults=CLEAN)
    reference = build_reference(frame(spec, range(10)), "count", IGNORED, "timestamp", [])
    assert reference.required_columns() == [
        "timestamp",
        "station_id",
        "season",
        "holiday",
        "workingday",
        "weather",
        "temp",
        "humidity",
        "windspeed",
    ]
    same = drift(frame(spec, [10, 11]), reference)
    drifted = drift(frame(DemoSpec(batches=60, faults=CLEAN, drift=True), [10, 11]), reference)
    late = drift(frame(DemoSpec(batches=60, faults=CLEAN, drift=True), [58, 59]), reference)
    assert same.per_column["temp"] < 0.25
    assert late.per_column["temp"] > 1.0 and "temp" in late.shifted()
    assert same.overall < drifted.overall < late.overall


def test_new_categories_count_as_drift() -> None:
    spec = DemoSpec(faults=CLEAN)
    base = frame(spec, range(3))
    reference = build_reference(base, "count", IGNORED, "timestamp", [])
    renamed = base.assign(weather=np.where(np.arange(len(base)) % 2, "sandstorm", base["weather"]))
    assert drift(renamed, reference).per_column["weather"] > 1.0


def test_category_drift_pairs_shares_by_name_after_a_json_round_trip() -> None:
    data = pd.DataFrame({"c": ["a", "b", "b", "b"] * 25, "y": range(100)})
    reference = build_reference(data, "y", [], None, [])
    loaded = ReferenceProfile.from_json(reference.to_json())
    assert drift(data, loaded).per_column == drift(data, reference).per_column == {"c": 0.0}
    shifted = pd.DataFrame({"c": ["a", "a", "a", "b"] * 25})
    expected = psi([0.25, 0.75, 0.0], [0.75, 0.25, 0.0])
    assert drift(shifted, loaded).per_column["c"] == pytest.approx(expected)
    assert drift(shifted, loaded).per_column["c"] > MAJOR_SHIFT


def test_a_column_constant_within_a_batch_is_judged_by_its_value_not_psi() -> None:
    days = pd.DataFrame({"flag": ["0"] * 97 + ["1"] * 3, "temp": np.linspace(0, 30, 100)})
    reference = build_reference(days.assign(y=1.0), "y", [], None, [])
    holiday = drift(pd.DataFrame({"flag": ["1"] * 24, "temp": np.linspace(5, 25, 24)}), reference)
    assert "flag" not in holiday.per_column and "flag" not in holiday.shifted()
    assert holiday.constant["flag"] == "constant '1' in this batch (3.0% of reference rows)"
    unseen = drift(pd.DataFrame({"flag": ["7"] * 24, "temp": [99.0] * 24}), reference)
    assert unseen.shifted() == ["flag", "temp"]
    assert "reference range" in unseen.constant["temp"]


def test_reference_round_trips_through_json(tmp_path) -> None:
    reference = build_reference(
        frame(DemoSpec(faults=CLEAN), [0]), "count", IGNORED, "timestamp", ["temp"]
    )
    path = reference.save(tmp_path / "ref" / "profile.json")
    assert ReferenceProfile.from_json(path.read_text()) == reference
