"""Contract kinds from enough evidence, through the asset graph: a column empty in the
first landed file is decided by the values of later ones, and the model reads it so;
and, on the same run, the metadata's links to the MLflow UI."""

import dagster as dg
import mlflow.sklearn
import pandas as pd
import pytest

from ml_pipeline.commands.execution import ingest_landed_files, run_pipeline
from ml_pipeline.commands.summary import RunSummary
from ml_pipeline.config import load_config
from ml_pipeline.core.data.contract import UNDECIDED, load_contract
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline_tests.conftest import bike_document, write_config

pytestmark = pytest.mark.slow

ROWS_PER_FILE = 60  # under the default 100 values that decide a kind


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The first file lands alone, with no windspeed; three more follow. Every file has
    an empty ``remarks`` column."""
    root = tmp_path_factory.mktemp("kinds")
    # With an MLflow UI address: the same run shows the metadata's links to it.
    linked = {"ui_url": "http://127.0.0.1:5000", "registered_model": "kinds"}
    document = bike_document(mlflow=linked)
    config = load_config(write_config(root / "project", document))
    staged = write_demo_data(
        DemoSpec(batches=4, rows_per_batch=ROWS_PER_FILE), root / "staged", root / "truth"
    )
    landing = config.dataset.landing_dir
    landing.mkdir(parents=True, exist_ok=True)

    def land(path, **blank) -> None:
        frame = pd.read_csv(path, dtype=str).assign(remarks=None, **dict.fromkeys(blank))
        frame.to_csv(landing / path.name, index=False)

    first, *later = sorted(staged)
    land(first, windspeed=True)
    with dg.DagsterInstance.ephemeral(tempdir=str(root / "instance")) as instance:
        ingest_landed_files(config, instance, RunSummary(), False)
        after_first = load_contract(config.contract_path)
        for path in later:
            land(path)
        summary = run_pipeline(config, instance, retrain=True)
        yield config, after_first, summary, instance


def test_kinds_stay_undecided_until_enough_values_have_landed(project) -> None:
    _, after_first, _, _ = project
    windspeed, temp = after_first.column("windspeed"), after_first.column("temp")
    assert windspeed.kind == UNDECIDED and windspeed.evidence is None
    assert temp.kind == UNDECIDED and temp.evidence["values"] == ROWS_PER_FILE
    assert after_first.kinds()["temp"] == "numeric"


def test_later_files_decide_the_column_the_first_left_empty(project) -> None:
    config, _, summary, _ = project
    assert summary.error is None, summary.lines()
    contract = load_contract(config.contract_path)
    windspeed = contract.column("windspeed")
    assert windspeed.kind == "numeric"
    assert windspeed.evidence["values"] >= 100 and windspeed.evidence["files"] >= 2
    assert any("windspeed: kind undecided -> numeric" in h["change"] for h in contract.history)
    model = mlflow.sklearn.load_model(summary.training.model_uri)
    assert {"windspeed", "temp"} <= set(model.named_steps["features"].numeric_columns_)


def test_a_column_that_never_had_a_value_is_reported_with_the_command_that_decides_it(
    project,
) -> None:
    config, _, summary, _ = project
    assert load_contract(config.contract_path).column("remarks").kind == UNDECIDED
    line = next(line for line in summary.lines() if "'remarks'" in line)
    assert "no values yet" in line and "`ml-pipeline contract kind remarks" in line
    assert any("'remarks'" in w for w in summary.as_json()["training"]["warnings"])


def test_the_metadata_links_the_training_run_and_the_registered_version(project) -> None:
    from ml_pipeline.core import names

    _, _, summary, instance = project
    trained = instance.get_latest_materialization_event(dg.AssetKey(names.TRAINED_MODEL))
    deployed = instance.get_latest_materialization_event(dg.AssetKey(names.DEPLOYED_MODEL))
    run_link = trained.asset_materialization.metadata["mlflow_run"].url
    assert run_link.startswith("http://127.0.0.1:5000/#/experiments/")
    assert run_link.endswith(f"/runs/{summary.training.mlflow_run_id}")
    version_link = deployed.asset_materialization.metadata["registered_version"].url
    version = summary.champion.version
    assert version_link == f"http://127.0.0.1:5000/#/models/kinds/versions/{version}"


def test_the_metadata_says_why_the_training_ran(project) -> None:
    from ml_pipeline.core import names

    *_, instance = project
    trained = instance.get_latest_materialization_event(dg.AssetKey(names.TRAINED_MODEL))
    assert trained.asset_materialization.metadata["why_trained"].value == (
        "started by ml-pipeline run"
    )
