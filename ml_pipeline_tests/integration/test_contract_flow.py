"""The schema contract through Dagster: files that would poison the history, the contract
in the UI's metadata, partitions that do not conform, config mistakes and ``forget``."""

import dagster as dg
import pandas as pd
import pytest

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.commands.forget import ForgetRefused, forget_partition
from ml_pipeline.config import load_config
from ml_pipeline.core.data.contract import load_contract
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.definitions import build_definitions
from ml_pipeline.defs.jobs import TRAINING_JOB
from ml_pipeline_tests.conftest import bike_document, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Eight demo batches ingested and trained once, plus a file with a repeated header and
    one with stray columns; shared by the tests of this module."""
    root = tmp_path_factory.mktemp("contract")
    # Without the sensor bounds: their notes would crowd the printed warnings this
    # module reads (the summary prints ten, and --json all).
    config = load_config(write_config(root / "project", bike_document(cleaning={})))
    landing = config.dataset.landing_dir
    write_demo_data(DemoSpec(batches=8, rows_per_batch=240), landing, config.data_dir / "truth")
    first = (landing / "bikes_2024-01-01.csv").read_text().splitlines()
    # The export that once stopped every later training: "temp" twice in the header.
    rows = [f"{line},{line.split(',')[7]}" for line in first]
    rows[0] = first[0] + ",temp"
    (landing / "repeated header.csv").write_text("\n".join(rows) + "\n")
    stray = pd.read_csv(landing / "bikes_2024-01-02.csv", dtype=str)
    stray.insert(2, "note", "checked")
    # A cell cleaning cannot read as a number, on a row no other row repeats.
    single = stray.index[~stray["record_id"].duplicated(keep=False)][5]
    stray.loc[single, "humidity"] = "humid"
    text = stray.assign(exported_by="tool").to_csv(index=False)
    # Cut off mid-row by the exporter: the last line lacks fields and its line end.
    (landing / "stray columns.csv").write_text(text[: text.rstrip("\n").rindex(",")])
    with dg.DagsterInstance.ephemeral(tempdir=str(root / "instance")) as instance:
        summary = run_pipeline(config, instance)
        yield config, instance, summary


def test_a_repeated_header_is_quarantined_and_the_history_keeps_training(project) -> None:
    config, _, summary = project
    assert len(summary.failed) == 1, summary.failed
    [(key, error)] = summary.failed.items()
    assert key.startswith("repeated_header")
    assert "repeated header.csv: the header names column 'temp' twice" in error
    assert (config.quarantine_dir / "repeated header.csv").is_file()
    assert summary.champion.promoted and summary.training.partitions == 9


def test_stray_columns_are_left_out_and_reported(project) -> None:
    config, instance, summary = project
    key = next(k for k in summary.ignored_columns if k.startswith("stray_columns"))
    assert summary.ignored_columns[key] == ["note", "exported_by"]
    assert "note" not in Warehouse(config.warehouse_dir).columns("raw_samples", key)
    contract = load_contract(config.contract_path)
    assert "note" not in contract.names() and contract.source.startswith("inferred from bikes_")
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_samples"), asset_partitions=[key]),
        limit=1,
    ).records[0]
    metadata = record.asset_materialization.metadata
    schema = metadata["dagster/column_schema"].schema
    kinds = {column.name: (column.type, column.description) for column in schema.columns}
    assert kinds["temp"] == ("numeric", "feature, required")
    assert kinds["record_id"] == ("categorical", "id, optional")
    assert metadata["ignored_columns"].value == ["note", "exported_by"]


def test_what_intake_and_cleaning_changed_reaches_the_summary_and_json(project) -> None:
    _, _, summary = project
    key = next(k for k in summary.warnings if k.startswith("stray_columns"))
    dropped, *coerced = summary.warnings[key]
    assert dropped.startswith("last line is truncated")
    assert "humidity: 1 unparseable value(s) set missing" in coerced
    assert f"  {key}: {coerced[0]}" in summary.lines()
    assert summary.as_json()["partitions"]["warnings"][key] == [dropped, *coerced]
    # The ignored columns have their own line, not a second one among the warnings.
    assert not any("schema contract" in w for w in summary.warnings[key])


def test_a_partition_written_before_the_contract_is_left_out_of_training(project) -> None:
    config, instance, _ = project
    warehouse = Warehouse(config.warehouse_dir)
    good = warehouse.read("features", "bikes_2024-01-03")
    # What a repeated header used to leave in the warehouse before contracts existed.
    warehouse.write("features", "legacy", good.drop(columns="temp").assign(**{"temp.1": 1.0}))
    instance.add_dynamic_partitions("landed_files", ["legacy"])
    try:
        summary = run_pipeline(config, instance, retrain=True)
        assert summary.error is None
        assert summary.excluded == {"legacy": "lacks contract columns temp"}
        assert "legacy" not in summary.training_partitions
        trained = instance.fetch_materializations(dg.AssetKey("trained_model"), limit=1)
        table = trained.records[0].asset_materialization.metadata["excluded_partitions"].value
        assert "legacy" in table and "lacks contract columns temp" in table
    finally:
        warehouse.drop("features", "legacy")
        instance.delete_dynamic_partition("landed_files", "legacy")


def test_a_misspelled_target_fails_the_run_and_moves_no_file(project, tmp_path) -> None:
    config, _, _ = project
    document = bike_document()
    document["dataset"]["target"] = "cnt"
    document["dataset"]["landing_dir"] = str(config.dataset.landing_dir)
    document["storage"] = {"data_dir": str(tmp_path / "data")}
    typo = load_config(write_config(tmp_path, document))
    landed = sorted(p.name for p in typo.dataset.landing_dir.iterdir())
    job = build_definitions(typo).resolve_job_def("ingest_job")
    with dg.instance_for_test() as fresh:
        fresh.add_dynamic_partitions("landed_files", ["bikes_2024-01-04"])
        result = job.execute_in_process(
            instance=fresh, partition_key="bikes_2024-01-04", raise_on_error=False
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "config error:" in message
    assert "dataset.target: 'cnt' is not a column of the landed files" in message
    assert "(did you mean 'count'?)" in message
    assert sorted(p.name for p in typo.dataset.landing_dir.iterdir()) == landed
    assert not typo.quarantine_dir.exists()


def test_forget_removes_a_partition_and_leaves_its_file_in_place(project) -> None:
    config, instance, _ = project
    key = "bikes_2024-01-05"
    landed = config.dataset.landing_dir / f"{key}.csv"
    busy = instance.create_run_for_job(
        build_definitions(config).resolve_job_def(TRAINING_JOB),
        status=dg.DagsterRunStatus.STARTED,
    )
    with pytest.raises(ForgetRefused, match=f"is in use by run {busy.run_id} \\(training_job"):
        forget_partition(config, instance, key)
    instance.delete_run(busy.run_id)

    done = forget_partition(config, instance, key)

    assert done.tables == ["raw_samples", "cleaned_data", "features"]
    assert landed.is_file() and done.landed_file == landed
    assert key not in instance.get_dynamic_partitions("landed_files")
    assert key not in instance.get_materialized_partitions(dg.AssetKey("raw_samples"))
    assert not Warehouse(config.warehouse_dir).exists("features", key)
    after = run_pipeline(config, instance, retrain=True)
    assert after.forgotten == [key] and key not in after.ingested
    assert key not in after.training_partitions and after.error is None
    with pytest.raises(ForgetRefused, match="is not registered"):
        forget_partition(config, instance, key)


def test_the_deployed_model_scores_frames_as_clients_build_them(project) -> None:
    """Gaps make whole-number columns float64, and None, NaN, unseen categories, extra
    columns, another column order and absent id columns all occur in real client data."""
    import mlflow.pyfunc

    config, _, summary = project
    model = mlflow.pyfunc.load_model(summary.artifact_path)
    landed = config.dataset.landing_dir / "bikes_2024-01-06.csv"
    client = pd.read_csv(landed).drop(columns=["count", "casual", "registered"])
    client = client[pd.to_numeric(client["temp"], errors="coerce").notna()].head(40)
    client = client.assign(temp=client["temp"].astype("float64"))
    baseline = model.predict(client)
    assert client["holiday"].dtype == "int64" and len(baseline) == len(client)

    gaps = client.copy()
    gaps["holiday"] = gaps["holiday"].astype("float64")
    gaps.loc[gaps.index[0], "holiday"] = float("nan")  # float64 where training saw whole numbers
    gaps.loc[gaps.index[1], "temp"] = None
    gaps.loc[gaps.index[2], "weather"] = None
    gaps.loc[gaps.index[3], "weather"] = "hail"  # never seen in training
    gaps.loc[gaps.index[4], "timestamp"] = None
    scored = model.predict(gaps)
    assert len(scored) == len(client) and pd.Series(scored).notna().all()
    assert (scored[5:] == baseline[5:]).all()

    shuffled = client.drop(columns=["record_id"]).assign(comment="x")
    shuffled = shuffled[list(reversed(shuffled.columns))]
    assert (model.predict(shuffled) == baseline).all()

    with pytest.raises(Exception, match=r"column 'temp': 'warm' is not a number"):
        model.predict(client.assign(temp="warm"))


def test_a_regression_target_run_as_classification_stops_before_fitting(project, tmp_path) -> None:
    config, instance, _ = project
    document = bike_document()
    document["dataset"].update(task="classification", landing_dir=str(config.dataset.landing_dir))
    document["storage"] = {"data_dir": str(config.data_dir)}
    wrong = load_config(write_config(tmp_path, document))
    job = build_definitions(wrong).resolve_job_def(TRAINING_JOB)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    # A data error: raised as the step's Failure, which the retry policy may not retry.
    assert error.cls_name == "Failure" and error.cause.cls_name == "ValueError"
    error = error.cause
    assert error.message.startswith("ValueError: target 'count' has ")
    assert "is dataset.task meant to be regression?" in error.message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert instance.get_latest_materialization_event(dg.AssetKey("trained_model")).run_id != (
        result.run_id
    )
