import pandas as pd

from ml_pipeline.core.demo_data import DemoSpec, FaultRates, generate_batch
from ml_pipeline.core.reference import ReferenceProfile, build_reference, drift, psi

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
    renamed = base.assign(weather="sandstorm")
    assert drift(renamed, reference).per_column["weather"] > 1.0


def test_reference_round_trips_through_json(tmp_path) -> None:
    reference = build_reference(
        frame(DemoSpec(faults=CLEAN), [0]), "count", IGNORED, "timestamp", ["temp"]
    )
    path = reference.save(tmp_path / "ref" / "profile.json")
    assert ReferenceProfile.from_json(path.read_text()) == reference
