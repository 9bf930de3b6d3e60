"""batch_predictions on a real instance and MLflow store: the sensor finds files, each
partition is scored by the champion or a chosen version, bad files fail alone."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest

from ml_pipeline.config import CandidateConfig, PipelineConfig, parse_config
from ml_pipeline.core import names, tracking
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.deploy import batch_scoring
from ml_pipeline.core.model import training
from ml_pipeline.defs.assets.scoring import batch_predictions
from ml_pipeline.defs.partitions import scoring_files
from ml_pipeline.defs.resources import mlflow_store, resources_for
from ml_pipeline.defs.sensors import build_scoring_sensor
from ml_pipeline_tests.conftest import tiny_regression_document, tiny_rows


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    """A project with two registered versions of a tiny model; version 1 is champion."""
    folder = tmp_path_factory.mktemp("scoring_project")
    document = tiny_regression_document(
        mlflow={"experiment": "scoring_test", "registered_model": "scoring_test"},
        sensor={"settle_seconds": 0},
    )
    config = parse_config(document, folder / "pipeline.yaml")
    store = mlflow_store(config)
    experiment_id = store.activate()
    X = tiny_rows(60, seed=0)
    models = {}
    for version, slope in (("1", 2.0), ("2", -3.0)):
        y = slope * X["temp"] + (X["weather"] == "rain") * 5.0
        model = training.fit_configuration(
            CandidateConfig(name="linear", estimator="linear"),
            "regression",
            X,
            y,
            "timestamp",
            [],
            0,
        )
        with mlflow.start_run(experiment_id=experiment_id):
            uri = tracking.log_sklearn_model(
                model, tracking.signature_for(X, model.predict(X.head(3)), []), X.head(3)
            )
        assert store.register(uri, {}) == version
        models[version] = model
    store.promote("1")
    # Point MLflow's process-wide URIs elsewhere: scoring must reach the project's store
    # through its config, as in a fresh worker process.
    elsewhere = (folder / "not_this_store").as_uri()
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    return config, models


def _land(config: PipelineConfig, name: str, frame: pd.DataFrame) -> Path:
    config.scoring_dir.mkdir(parents=True, exist_ok=True)
    path = config.scoring_dir / name
    frame.to_csv(path, index=False)
    return path


def _score(config: PipelineConfig, instance, key: str, **tags: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [batch_predictions],
        partition_key=key,
        instance=instance,
        resources=resources_for(config),
        tags=tags,
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.user_failure_data.description


def test_the_sensor_finds_files_and_the_champion_scores_every_row(project) -> None:
    config, models = project
    inputs = {f"batch{i}": tiny_rows(20 + 7 * i, seed=10 + i) for i in range(3)}
    for key, frame in inputs.items():
        _land(config, f"{key}.csv", frame.assign(stray="x"))
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_scoring_sensor(config)

    first = sensor(dg.build_sensor_context(instance=instance))
    again = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))

    assert sorted(r.partition_key for r in first.run_requests) == sorted(inputs)
    assert first.dynamic_partitions_requests[0].partition_keys == sorted(inputs)
    assert again.run_requests == []
    instance.add_dynamic_partitions(scoring_files.name, sorted(inputs))
    warehouse = Warehouse(config.warehouse_dir)
    for request in first.run_requests:
        result = _score(config, instance, request.partition_key, **request.tags)
        assert result.success
        scored = warehouse.read(names.BATCH_PREDICTIONS, request.partition_key)
        frame = inputs[request.partition_key]
        assert len(scored) == len(frame)
        assert set(scored[batch_scoring.MODEL_VERSION]) == {"1"}
        assert set(scored[batch_scoring.INPUT_PARTITION]) == {request.partition_key}
        np.testing.assert_allclose(
            scored[batch_scoring.PREDICTION], models["1"].predict(frame), rtol=1e-9
        )
        metadata = result.asset_materializations_for_node(names.BATCH_PREDICTIONS)[0].metadata
        assert metadata["model_version"].value == "1"
        assert metadata["dagster/row_count"].value == len(frame)
        assert metadata["unscored_rows"].value == 0


def test_a_chosen_version_rescores_one_partition_and_leaves_the_others(project) -> None:
    config, models = project
    frames = {key: tiny_rows(15, seed=seed) for key, seed in (("early", 1), ("late", 2))}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scoring_files.name, sorted(frames))
    for key, frame in frames.items():
        _land(config, f"{key}.csv", frame)
        assert _score(config, instance, key).success

    rescored = _score(config, instance, "early", **{names.MODEL_VERSION_TAG: "2"})

    assert rescored.success
    warehouse = Warehouse(config.warehouse_dir)
    early = warehouse.read(names.BATCH_PREDICTIONS, "early")
    late = warehouse.read(names.BATCH_PREDICTIONS, "late")
    assert set(early[batch_scoring.MODEL_VERSION]) == {"2"}
    np.testing.assert_allclose(
        early[batch_scoring.PREDICTION], models["2"].predict(frames["early"]), rtol=1e-9
    )
    assert set(late[batch_scoring.MODEL_VERSION]) == {"1"}


def test_an_unregistered_version_fails_the_run_and_names_it(project) -> None:
    config, _ = project
    _land(config, "any.csv", tiny_rows(5, seed=3))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scoring_files.name, ["any"])

    message = _failure(_score(config, instance, "any", **{names.MODEL_VERSION_TAG: "9"}))

    assert "model version 9 of 'scoring_test' is not registered" in message


def test_a_file_without_a_model_column_fails_alone_and_stays_put(project) -> None:
    config, _ = project
    bad = _land(config, "no_temp.csv", tiny_rows(5, seed=4).drop(columns=["temp"]))
    _land(config, "fine.csv", tiny_rows(5, seed=5))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scoring_files.name, ["no_temp", "fine"])

    message = _failure(_score(config, instance, "no_temp"))

    assert message.startswith("no_temp.csv: missing columns model version 1 reads: temp")
    assert bad.is_file()
    assert _score(config, instance, "fine").success


def test_a_header_only_file_is_refused_in_one_line(project) -> None:
    config, _ = project
    _land(config, "empty.csv", tiny_rows(0, seed=6))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scoring_files.name, ["empty"])

    assert _failure(_score(config, instance, "empty")) == "empty.csv: no data rows (header only)"
