"""The champion measured on each landed partition, through the real asset graph: before
any training reads it, never on rows it trained on, and decay as a retraining reason."""

import datetime as dt
import re

import dagster as dg
import pytest

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.definitions import job_definitions
from ml_pipeline.defs.jobs import INGEST_JOB
from ml_pipeline.runtime.history import latest_scored_by
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, write_config

pytestmark = pytest.mark.slow

HGB_ONLY = {**FAST_TRAINING, "candidates": [FAST_TRAINING["candidates"][1]]}


def _measurements(instance: dg.DagsterInstance) -> dict[str, dict[str, object]]:
    """The latest champion_performance metadata of each partition."""
    records = instance.fetch_materializations(
        dg.AssetKey(names.CHAMPION_PERFORMANCE), limit=1000
    ).records
    latest: dict[str, dict[str, object]] = {}
    for record in records:  # newest first
        metadata = record.asset_materialization.metadata
        latest.setdefault(record.partition_key, {k: v.value for k, v in metadata.items()})
    return latest


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A champion trained on ten ordinary days, then four days whose demand follows
    another rule while the inputs do not move."""
    root = tmp_path_factory.mktemp("performance")
    config = load_config(
        write_config(
            root / "project",
            bike_document(training=HGB_ONLY, retraining={"min_new_partitions": 50}),
        )
    )
    landing, truth = config.dataset.landing_dir, config.data_dir / "truth"
    write_demo_data(DemoSpec(batches=10), landing, truth)
    with dg.DagsterInstance.ephemeral(tempdir=str(root / "instance")) as instance:
        first = run_pipeline(config, instance, retrain=True)
        assert first.champion is not None and first.champion.version == "1"
        changed = DemoSpec(batches=4, start=dt.date(2024, 1, 11), relation_changed=True)
        write_demo_data(changed, landing, truth)
        second = run_pipeline(config, instance)
        # A day v1 trained on, ingested again: its rows must not flatter v1.
        ingest = job_definitions(config).resolve_job_def(INGEST_JOB)
        again = ingest.execute_in_process(instance=instance, partition_key=first.ingested[0])
        assert again.success
        # History measured again with v1 on request (a backfill's run tag).
        remeasured = ingest.execute_in_process(
            instance=instance,
            partition_key=second.ingested[-1],
            tags={names.MODEL_VERSION_TAG: "1"},
        )
        assert remeasured.success
        yield config, first, second, _measurements(instance)


def test_partitions_before_a_champion_or_trained_on_are_not_measured(measured) -> None:
    _, first, _, measurements = measured
    trained_on, *before = first.ingested
    for key in before:
        assert measurements[key]["measured"] is False
        assert "no champion yet" in measurements[key]["why_not"]
    assert measurements[trained_on]["measured"] is False
    # Whichever version serves by then (the decay retrained), it trained on that day.
    assert re.match(r"v\d+ trained on these rows", measurements[trained_on]["why_not"])


def test_each_new_partition_is_scored_by_the_champion_of_the_moment(measured) -> None:
    config, _, second, measurements = measured
    assert len(second.ingested) == 4
    for key in second.ingested:
        seen = measurements[key]
        assert seen["measured"] is True and seen[names.SCORED_BY] == "1"
        assert seen["dagster/row_count"] > 0 and seen["rmse"] > 0
    assert (config.reports_dir / "performance.html").read_text().count("<img") == 1


def test_a_changed_relation_is_decay_and_the_reason_to_retrain(measured) -> None:
    _, _, second, measurements = measured
    decayed = [m for m in measurements.values() if isinstance(m.get(names.DECAY), float)]
    assert decayed, [m.get("decay_check") for m in measurements.values()]
    # Four new partitions are below min_new_partitions: decay alone retrained.
    assert second.retrained_because is not None
    assert "worse on new partitions than at validation" in second.retrained_because
    assert "since the last training" not in second.retrained_because


def test_a_version_measured_on_request_is_not_judged_for_decay(measured) -> None:
    _, _, second, measurements = measured
    remeasured = measurements[second.ingested[-1]]
    assert remeasured["measured"] is True and remeasured[names.SCORED_BY] == "1"
    assert remeasured["decay_check"] == "not judged: v1 measured on request"
    assert names.DECAY not in remeasured


def test_a_decay_window_takes_only_partitions_whose_latest_measure_is_the_version() -> None:
    def measure(instance, partition: str, version: str, measured: bool = True) -> None:
        metadata = {names.SCORED_BY: version, "measured": measured}
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=names.CHAMPION_PERFORMANCE, partition=partition, metadata=metadata
            )
        )

    with dg.instance_for_test() as instance:
        for partition in ("a", "b", "c", "d", "e"):
            measure(instance, partition, "2")
        measure(instance, "b", "1")  # re-measured with v1: its rows are v1's now
        measure(instance, "d", "2", measured=False)  # v2 trained on it since
        assert latest_scored_by(instance, "2", 2, besides="e") == ["c", "a"]
        assert latest_scored_by(instance, "2", 10, besides="x") == ["e", "c", "a"]
        assert latest_scored_by(instance, "1", 10, besides="x") == ["b"]
