import pytest

from ml_pipeline.config import RetrainingConfig
from ml_pipeline.core.monitor.retraining import Activity, Evidence, retrain_reasons
from ml_pipeline.core.names import TRIGGER_BACKFILL, TRIGGER_CLI, TRIGGER_SCHEDULE
from ml_pipeline.core.triggers import why_trained

POLICY = RetrainingConfig(min_new_partitions=3, drift_threshold=0.25, max_model_age_hours=24)


def test_why_a_training_ran_names_each_sensor_reason_with_its_evidence() -> None:
    evidence = Evidence(5, 0.5, 30, decay=0.2)
    trigger = ",".join(retrain_reasons(evidence, Activity(), POLICY)[0])
    why = why_trained(trigger)
    assert why.startswith("retraining sensor: ")
    assert "5 new partition(s)" in why and "0.500" in why and "30h old" in why
    assert "+20.0% worse on new partitions than at validation" in why


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        (None, "by hand"),
        ("", "by hand"),
        (TRIGGER_SCHEDULE, "schedule"),
        (TRIGGER_BACKFILL, "backfill"),
        (TRIGGER_CLI, "ml-pipeline run"),
        ("someday:1", "someday:1"),  # a reason this version does not know stays legible
    ],
)
def test_why_a_training_ran_names_who_started_it(trigger, words) -> None:
    assert words in why_trained(trigger)
