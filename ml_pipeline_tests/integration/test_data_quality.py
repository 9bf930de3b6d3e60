"""Bad files, blocking checks, drift and the profile, through Dagster on an ephemeral instance."""

import gzip

import dagster as dg
import pytest

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.definitions import build_definitions
from ml_pipeline_tests.conftest import bike_document, write_config

pytestmark = pytest.mark.slow


def land_bad_files(landing) -> dict[str, str]:
    """Bad files and the words their refusal must contain."""
    header = (landing / "bikes_2024-01-01.csv").read_text().splitlines()[0]
    (landing / "zero.csv").write_bytes(b"")
    (landing / "packed.csv").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    (landing / "no target.csv").write_text("timestamp,temp\n2024-01-01 00:00:00,3\n")
    (landing / "semicolons.csv").write_text(header.replace(",", ";") + "\n" + "1;" * 12 + "1\n")
    return {
        "zero": "zero.csv: empty file",
        "packed": "packed.csv: gzip-compressed data",
        "no_target": "no target.csv: missing target column 'count'",
        "semicolons": "semicolons.csv: missing target column 'count'; the header is one column",
    }


def test_bad_files_are_quarantined_and_training_goes_on(landed_bikes, tmp_path) -> None:
    config = landed_bikes
    expected = land_bad_files(config.dataset.landing_dir)
    # Two rows under one record id with other values: the blocking uniqueness check stops it.
    lines = (config.dataset.landing_dir / "bikes_2024-01-02.csv").read_text().splitlines()
    clash = lines[1].split(",")
    clash[7] = "99.5"  # temp
    (config.dataset.landing_dir / "clash.csv").write_text(
        "\n".join([lines[0], lines[1], ",".join(clash)]) + "\n"
    )
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(config, instance)
        assert summary.error is None, summary.error
        assert len(summary.ingested) == 8
        failed = {key.split("-")[0]: error for key, error in summary.failed.items()}
        assert failed.pop("clash").startswith(
            "cleaned_data check failed: expect_column_values_to_be_unique on record_id: "
            "2 unexpected"
        )
        assert set(failed) == set(expected)
        for key, words in expected.items():
            assert words in failed[key] and "\n" not in failed[key]
            assert "quarantined to" in failed[key]
        assert summary.training.partitions == 8

        quarantined = sorted(p.name for p in config.quarantine_dir.iterdir())
        for name in ("zero.csv", "packed.csv", "no target.csv", "semicolons.csv"):
            assert name in quarantined and f"{name}.reason.txt" in quarantined
        landed = {p.name for p in config.dataset.landing_dir.iterdir()}
        assert not landed & {"zero.csv", "packed.csv", "no target.csv", "semicolons.csv"}

        # A good partition re-delivered broken leaves training, and its old data with it.
        (config.dataset.landing_dir / "bikes_2024-01-08.csv").write_bytes(b"")
        again = run_pipeline(config, instance, retrain=True)
        # The clash stays landed (a blocking check is no reason to move it) and is tried again.
        assert sorted(again.failed) == ["bikes_2024-01-08", "clash"]
        assert again.training.partitions == 7
        assert "bikes_2024-01-08" not in again.training_partitions


def test_checks_run_on_every_ingest_asset_and_drift_appears(landed_bikes, tmp_path) -> None:
    config = landed_bikes
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        assert run_pipeline(config, instance).error is None
        assert config.reference_path.is_file()
        write_demo_data(
            DemoSpec(batches=1, start=DemoSpec().start.replace(month=3), drift=True),
            config.dataset.landing_dir,
            config.data_dir / "demo_truth",
        )
        job = build_definitions(config).resolve_job_def("ingest_job")
        instance.add_dynamic_partitions("landed_files", ["bikes_2024-03-01"])
        result = job.execute_in_process(instance=instance, partition_key="bikes_2024-03-01")
        evaluations = {
            (e.asset_key.to_user_string(), e.check_name): e
            for e in result.get_asset_check_evaluations()
        }
        for asset in ("raw_samples", "cleaned_data", "features"):
            evaluation = evaluations[(asset, "expectations")]
            assert evaluation.metadata["blocking_failed"].value == 0
            assert evaluation.metadata["expectations_evaluated"].value >= 3
        # The drifted batch breaks ranges learned from the training reference: the check
        # fails as a warning, and the file still reaches features.
        drifted = evaluations[("cleaned_data", "expectations")]
        assert not drifted.passed and drifted.severity == dg.AssetCheckSeverity.WARN
        assert "reference" in drifted.metadata["failures"].value
        assert result.success
        cleaned = result.asset_materializations_for_node("cleaned_data")[0].metadata
        assert cleaned["drift_score"].value >= 0
        assert "psi" in cleaned["drift_by_column"].value

        profile = instance.fetch_materializations(dg.AssetKey("data_profile"), limit=1)
        metadata = profile.records[0].asset_materialization.metadata
        assert metadata["plots"].value.count("data:image/png;base64,") == 3
        assert "count rises with temp" in metadata["relationships"].value
        assert (config.reports_dir / "data_profile.html").is_file()


def ingest_with_failing_expectation(tmp_path, blocking: bool):
    """One demo file ingested with a cleaned_data expectation that fails; the run's
    result and the project's config."""
    document = bike_document(
        quality={
            "expectations": [
                {
                    "table": "cleaned_data",
                    "type": "expect_column_mean_to_be_between",
                    "kwargs": {"column": "temp", "min_value": 100, "max_value": 200},
                    "blocking": blocking,
                }
            ]
        }
    )
    config = load_config(write_config(tmp_path / "project", document))
    write_demo_data(DemoSpec(batches=1), config.dataset.landing_dir, config.data_dir / "truth")
    job = build_definitions(config).resolve_job_def("ingest_job")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("landed_files", ["bikes_2024-01-01"])
        result = job.execute_in_process(
            instance=instance, partition_key="bikes_2024-01-01", raise_on_error=False
        )
    return result, config


def test_a_failing_warning_fails_the_check_as_a_warning_and_lets_the_file_through(
    tmp_path,
) -> None:
    result, config = ingest_with_failing_expectation(tmp_path, blocking=False)
    assert result.success
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"raw_samples", "cleaned_data", "features"}
    warned = evaluations["cleaned_data"]
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["blocking_failed"].value == 0
    assert "expect_column_mean_to_be_between" in warned.metadata["failures"].value
    assert evaluations["features"].passed
    assert (config.warehouse_dir / "features" / "bikes_2024-01-01.parquet").is_file()


def test_a_failing_blocking_check_stops_downstream(tmp_path) -> None:
    result, config = ingest_with_failing_expectation(tmp_path, blocking=True)
    assert not result.success
    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "cleaned_data" and e.check_name == "expectations"
    ]
    assert failed and not failed[0].passed
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    assert failed[0].metadata["blocking_failed"].value == 1
    assert failed[0].partition == "bikes_2024-01-01"
    assert "expect_column_mean_to_be_between" in failed[0].metadata["failures"].value
    assert result.asset_materializations_for_node("features") == []
    assert not (config.warehouse_dir / "features" / "bikes_2024-01-01.parquet").exists()
