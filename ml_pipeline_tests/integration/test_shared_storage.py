"""The lifecycle with ``storage.shared`` on an S3 emulator (moto's server over HTTP; no
real S3 is reachable here): tables, step outputs, the deploy folder, batch predictions
and the prediction log all live in the bucket, and the service serves from it."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ml_pipeline.commands.doctor import examine
from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.core.deploy import batch_scoring, deploy_folder
from ml_pipeline.core.deploy.switch import rollback
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.defs.assets.scoring import batch_predictions
from ml_pipeline.defs.partitions import scoring_files
from ml_pipeline.defs.resources import mlflow_store, resources_for
from ml_pipeline.serving.app import create_app
from ml_pipeline_tests.conftest import bike_document, land_demo_bikes, write_config
from ml_pipeline_tests.s3 import new_bucket

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory, s3_endpoint):
    """The demo bikes ingested and trained with shared storage in a bucket of their own."""
    folder = tmp_path_factory.mktemp("shared_storage")
    storage = {
        "data_dir": "data",
        "shared": f"s3://{new_bucket(s3_endpoint)}/team",
        "options": {"endpoint_url": s3_endpoint},
    }
    config = land_demo_bikes(load_config(write_config(folder, bike_document(storage=storage))))
    instance = dg.DagsterInstance.ephemeral(tempdir=str(folder / "instance"))
    summary = run_pipeline(config, instance)
    yield config, instance, summary
    instance.dispose()


def _objects(root) -> list[str]:
    prefix = root.path.rstrip("/") + "/"
    return sorted(path.removeprefix(prefix) for path in root.fs.find(root.path))


def test_training_writes_tables_outputs_and_the_export_to_the_bucket(trained) -> None:
    config, _instance, summary = trained
    assert summary.error is None and len(summary.ingested) == 8
    assert summary.champion.version == "1" and summary.champion.promoted
    objects = _objects(config.shared_root)
    for table in (names.RAW_SAMPLES, names.CLEANED_DATA, names.FEATURES):
        assert len([o for o in objects if o.startswith(f"warehouse/{table}/")]) == 8, table
    # What a step returned for the next one: readable by a worker on another machine.
    assert f"step_outputs/{names.TRAINED_MODEL}.pickle" in objects
    assert {"deploy/v1/MLmodel", "deploy/v1/.complete", "deploy/current"} <= set(objects)
    assert deploy_folder.current_name(config.deploy_dir) == "v1"
    assert summary.artifact_path == str(config.deploy_dir / "current")
    # Only the landing-side state stays in the data folder.
    assert not (config.data_dir / "deploy").exists()
    assert [p.name for p in (config.data_dir / "warehouse").iterdir()] == ["contract.json"]
    findings = {f.check: f for f in examine(config, fix=False)}
    assert findings["deployment"].ok, findings["deployment"].line()


def test_the_service_serves_the_bucket_champion_and_logs_to_the_bucket(trained) -> None:
    config, _instance, _summary = trained
    rows = pd.read_csv(sorted(config.dataset.landing_dir.glob("*.csv"))[0]).head(20)
    rows = rows.drop(columns=[config.dataset.target]).dropna()
    rows = rows[pd.to_numeric(rows["temp"], errors="coerce").notna()]
    started = dt.datetime.now(dt.UTC)
    with TestClient(create_app(config)) as client:
        response = client.post("/predict", json=rows.to_dict("records"))
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "1"
    assert (config.model_cache_dir / "v1" / "MLmodel").is_file()
    store = mlflow_store(config)
    expected = batch_scoring.load_version(store, "1").predict(rows)
    assert np.allclose(response.json()["predictions"], expected)
    # The app flushed its log on shutdown, into the bucket, where monitoring reads it.
    logged = read_prediction_log(config.predictions_dir, started, dt.datetime.now(dt.UTC))
    assert logged["rows"].tolist() == [len(rows)]
    assert any(o.startswith("predictions/date=") for o in _objects(config.shared_root))


def test_batch_predictions_land_in_the_bucket(trained) -> None:
    config, instance, _summary = trained
    config.scoring_dir.mkdir(parents=True, exist_ok=True)
    source = sorted(config.dataset.landing_dir.glob("*.csv"))[1]
    rows = pd.read_csv(source).drop(columns=[config.dataset.target])
    rows.to_csv(config.scoring_dir / "to_score.csv", index=False)
    instance.add_dynamic_partitions(scoring_files.name, ["to_score"])
    result = dg.materialize(
        [batch_predictions],
        partition_key="to_score",
        instance=instance,
        resources=resources_for(config),
    )
    assert result.success
    written = config.warehouse_dir / names.BATCH_PREDICTIONS / "to_score.parquet"
    with written.open("rb") as handle:
        scored = pd.read_parquet(handle)
    assert len(scored) == len(rows) and set(scored["model_version"]) == {"1"}


def test_a_second_champion_and_its_rollback_switch_the_bucket_pointer(trained) -> None:
    config, instance, _summary = trained
    forced = run_pipeline(config, instance, promotion="force")
    assert forced.error is None and forced.champion.version == "2"
    assert deploy_folder.current_name(config.deploy_dir) == "v2"
    store = mlflow_store(config)
    outcome = rollback(store, config.deploy_dir, config.reference_path)
    assert outcome.to_version == "1"
    assert deploy_folder.current_name(config.deploy_dir) == "v1"
    assert deploy_folder.is_complete(config.deploy_dir / "v2")
