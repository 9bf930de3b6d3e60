import pytest

from ml_pipeline.config import RetrainingConfig
from ml_pipeline.core.monitor.retraining import Activity, Evidence, retrain_reasons

POLICY = RetrainingConfig(min_new_partitions=3, drift_threshold=0.25, max_model_age_hours=24)
IDLE = Activity()


def reasons(new=0, drift=None, hours=None, activity=IDLE, policy=POLICY):
    return retrain_reasons(Evidence(new, drift, hours), activity, policy)[0]


def test_enough_new_partitions() -> None:
    assert reasons(new=2) == []
    assert reasons(new=3) == ["new_partitions:3"]


def test_drift_of_new_data_triggers_below_the_partition_count() -> None:
    assert reasons(new=1, drift=0.4) == ["drift:0.400"]
    assert reasons(new=1, drift=0.1) == []
    assert reasons(new=0, drift=0.9) == [], "drift needs new data to be about"


def test_old_model_triggers_alone_and_rules_combine() -> None:
    assert reasons(hours=30) == ["model_age:30h"]
    assert reasons(new=5, drift=0.5, hours=30) == [
        "new_partitions:5",
        "drift:0.500",
        "model_age:30h",
    ]


def test_rules_can_be_switched_off() -> None:
    off = RetrainingConfig(min_new_partitions=3, drift_threshold=None, max_model_age_hours=None)
    assert reasons(new=1, drift=5.0, hours=1e6, policy=off) == []


@pytest.mark.parametrize(
    "activity,words",
    [
        (Activity(ingest_runs=2), "2 ingest run(s) still in the wave"),
        (Activity(training_runs=1), "1 training run(s) in progress"),
        (Activity(backfills=1), "1 backfill(s) in progress"),
    ],
)
def test_nothing_starts_while_busy(activity, words) -> None:
    found, explanation = retrain_reasons(Evidence(10, 1.0, 100.0), activity, POLICY)
    assert found == [] and explanation == f"waiting: {words}"


def test_measured_decay_triggers_below_the_partition_count_and_can_be_switched_off() -> None:
    decayed = Evidence(new_partitions=1, max_drift=None, hours_since_training=1, decay=0.237)
    assert retrain_reasons(decayed, IDLE, POLICY)[0] == ["decay:+23.7%"]
    off = POLICY.model_copy(update={"decay_margin": None})
    assert retrain_reasons(decayed, IDLE, off)[0] == []
    steady = Evidence(new_partitions=1, max_drift=None, hours_since_training=1)
    assert retrain_reasons(steady, IDLE, POLICY)[0] == []
