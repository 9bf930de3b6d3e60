"""Every scored row carries an id the log keeps with its prediction, and a shadow version
scores the same requests in a child process, off the champion's path.

The two tiny models are fitted and exported as a deployment exports them; the shadow's
child process is real (spawned, as the service spawns it) and is stopped by the app.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow.sklearn
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ml_pipeline.config import CandidateConfig, PipelineConfig, parse_config
from ml_pipeline.core import tracking
from ml_pipeline.core.deploy.deploy_folder import SHADOW_LINK, point_current, remove_link
from ml_pipeline.core.model import training
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.core.monitor.skew import served_skew
from ml_pipeline.serving.app import create_app
from ml_pipeline.serving.shadow import ShadowScorer, ShadowSettings
from ml_pipeline_tests.conftest import tiny_regression_document, tiny_rows


def _export(config: PipelineConfig, version: int, slope: float) -> Path:
    X = tiny_rows(60, seed=version).assign(ride_id=[f"r{i}" for i in range(60)])
    y = slope * X["temp"] + (X["weather"] == "rain") * 5.0
    candidate = CandidateConfig(name="linear", estimator="linear")
    model = training.fit_configuration(candidate, "regression", X, y, "timestamp", ["ride_id"], 0)
    exported = config.deploy_dir / f"v{version}"
    mlflow.sklearn.save_model(
        model,
        str(exported),
        signature=tracking.signature_for(X, model.predict(X.head(5)), []),
        serialization_format="skops",
        skops_trusted_types=tracking.SKOPS_TRUSTED_TYPES,
        pip_requirements=[],
    )
    (exported / "model_card.json").write_text(json.dumps({"version": str(version)}))
    return exported


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """v1 serving, v2 exported beside it; the dataset names ``ride_id`` its row id."""
    return _project(tmp_path_factory.mktemp("project"))


def _project(folder: Path) -> PipelineConfig:
    document = tiny_regression_document(serving={"log_flush_seconds": 0.1, "poll_seconds": 0.1})
    document["dataset"]["id_columns"] = ["ride_id"]
    config = parse_config(document, folder / "pipeline.yaml")
    point_current(config.deploy_dir, _export(config, 1, slope=2.0))
    _export(config, 2, slope=-3.0)
    return config


@pytest.fixture
def client(project: PipelineConfig) -> Iterator[TestClient]:
    with TestClient(create_app(project, token=None)) as test_client:
        yield test_client


def _records(count: int, ids: list | None = None) -> list[dict]:
    rows = tiny_rows(count, seed=7)
    records = tracking.as_landed(rows).to_dict("records")
    for record, given in zip(records, ids or [], strict=False):
        record["ride_id"] = given
    return records


def _log(config: PipelineConfig) -> pd.DataFrame:
    now = dt.datetime.now(dt.UTC)
    return read_prediction_log(config.predictions_dir, now - dt.timedelta(hours=1), now)


def _poll(condition, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found is not None and found is not False:
            return found
        time.sleep(0.05)
    raise AssertionError("the condition never held")


def test_the_clients_ids_are_echoed_and_missing_ones_are_made_unique(client) -> None:
    answer = client.post("/predict", json=_records(4, ids=["a-1", 17, None]))
    assert answer.status_code == 200, answer.text
    ids = answer.json()["ids"]
    assert ids[:2] == ["a-1", "17"]
    assert len(set(ids)) == 4 and all(isinstance(i, str) and i for i in ids[2:])


def test_made_up_ids_differ_between_requests(client) -> None:
    first = client.post("/predict", json=_records(3)).json()["ids"]
    second = client.post("/predict", json=_records(3)).json()["ids"]
    assert not set(first) & set(second)


def test_every_scored_row_is_logged_with_its_id_and_prediction(client, project) -> None:
    answer = client.post("/predict", json=_records(5, ids=[f"log-{i}" for i in range(5)]))
    said = dict(zip(answer.json()["ids"], answer.json()["predictions"], strict=True))

    def logged():
        log = _log(project)
        mine = log[log["row_ids"].fillna("").str.contains("log-0")]
        return mine if len(mine) else None

    record = _poll(logged).iloc[0]
    kept = dict(zip(json.loads(record["row_ids"]), json.loads(record["predictions"]), strict=True))
    assert kept == said
    assert record["role"] == "champion" and record["model_version"] == "1"


def test_a_shadow_version_scores_the_same_rows_off_the_hot_path(project) -> None:
    point_current(project.deploy_dir, project.deploy_dir / "v2", SHADOW_LINK)
    try:
        with TestClient(create_app(project, token=None)) as client:
            service = client.app.state.service
            _poll(lambda: service.shadow is not None and service.shadow.active)
            ids = [f"shadow-{i}" for i in range(6)]
            champion = client.post("/predict", json=_records(6, ids=ids)).json()

            def shadowed():
                log = _log(project)
                found = log[
                    (log["role"] == "shadow") & log["row_ids"].fillna("").str.contains("shadow-0")
                ]
                return found if len(found) else None

            record = _poll(shadowed).iloc[0]
            metrics = client.get("/metrics").text
    finally:
        remove_link(project.deploy_dir, SHADOW_LINK)
    assert json.loads(record["row_ids"]) == ids
    assert record["model_version"] == "2"
    shadow_predictions = json.loads(record["predictions"])
    assert len(shadow_predictions) == 6 and shadow_predictions != champion["predictions"]
    assert 'ml_pipeline_shadow_requests{outcome="scored"}' in metrics


def test_a_full_shadow_queue_drops_and_counts_instead_of_waiting(tmp_path) -> None:
    settings = ShadowSettings(tmp_path, tmp_path / "log", None, True, None, 0.1, 0.1)
    shadow = ShadowScorer(settings, max_pending=1)
    shadow._active.value = 1  # as the child sets it once it holds a version; not started
    offered = [shadow.offer("/predict", 1, {"temp": [1.0]}, [f"id-{i}"]) for i in range(3)]
    started = time.perf_counter()
    assert shadow.offer("/predict", 1, {"temp": [1.0]}, ["late"]) is False
    assert time.perf_counter() - started < 1.0
    assert offered[0] is True and shadow.dropped >= 2


def _skew_after_requests(config: PipelineConfig, client: TestClient, marker: str):
    ids = [f"{marker}-{i}" for i in range(8)]
    assert client.post("/predict", json=_records(8, ids=ids)).status_code == 200

    def sampled():
        log = _log(config)
        mine = log[log["row_ids"].fillna("").str.contains(f"{marker}-0")]
        return log if len(mine) and mine["features"].notna().all() else None

    log = _poll(sampled)
    mine = log[log["row_ids"].fillna("").str.contains(f"{marker}-0")]

    def load():
        return tracking.load_sklearn_model(str(config.deploy_dir / "v1"))

    return served_skew(mine, "1", load, 100)


def test_the_services_features_agree_with_trainings_for_the_same_rows(client, project) -> None:
    found = _skew_after_requests(project, client, "agree")
    assert found.rows == 8 and found.skewed == [], found.sentence()


def test_a_serving_path_that_computes_other_features_is_reported(tmp_path, monkeypatch) -> None:
    # A project of its own: the skewed features stay out of the shared project's log.
    project = _project(tmp_path)
    import dataclasses

    from ml_pipeline.serving import model as served

    compile_pipeline = served.compile_pipeline

    def skewed(pipeline):
        # A fault in the compiled path: every feature one block makes is off by one.
        scorer = compile_pipeline(pipeline)
        blocks = [(c, lambda v, f=f: f(v) + 1.0) for c, f in scorer.preprocess.blocks[:1]]
        shifted = dataclasses.replace(
            scorer.preprocess, blocks=blocks + scorer.preprocess.blocks[1:]
        )
        return dataclasses.replace(scorer, preprocess=shifted)

    monkeypatch.setattr(served, "compile_pipeline", skewed)
    with TestClient(create_app(project, token=None)) as client:
        found = _skew_after_requests(project, client, "skewed")
    assert found.skewed, found.sentence()
    assert all(c.differing == 8 for c in found.columns if c.column in found.skewed)


def test_prediction_monitoring_reports_the_skew_check_on_what_the_service_logged(
    client, project
) -> None:
    import dagster as dg

    from ml_pipeline.defs.assets.monitoring import prediction_monitoring
    from ml_pipeline.defs.resources import resources_for

    _skew_after_requests(project, client, "asset")
    result = dg.materialize(
        [prediction_monitoring],
        resources=resources_for(project),
        instance=dg.DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("prediction_monitoring")[0].metadata
    assert metadata["feature_skew"].value.startswith("none: ")
    assert "skewed_features" not in metadata
    assert "| feature" in metadata["feature_skew_by_column"].value


def test_the_skew_sample_is_kept_at_most_once_per_skew_sample_seconds(client, project) -> None:
    for batch in range(3):
        ids = [f"often-{batch}-{i}" for i in range(2)]
        assert client.post("/predict", json=_records(2, ids=ids)).status_code == 200

    def logged():
        log = _log(project)
        mine = log[log["row_ids"].fillna("").str.contains("often-")]
        return mine if len(mine) == 3 else None

    mine = _poll(logged)
    assert mine["inputs"].notna().all(), "the drift sample is kept for every request"
    assert mine["features"].notna().sum() == 1 and mine["raw_inputs"].notna().sum() == 1
