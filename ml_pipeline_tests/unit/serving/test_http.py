"""The scoring service's HTTP layer in process: routes, auth, every refusal, metrics.

FastAPI's TestClient runs the real app (lifespan, middleware, error handler) without a
socket. The model is a tiny one of the project's own pipelines, fitted on 60 rows and
exported the way a deployment exports it, so each test is fast and stands alone. The
live tests keep what needs a real server: uvicorn, signals, concurrency, reloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ml_pipeline.config import CandidateConfig, PipelineConfig, parse_config
from ml_pipeline.core import tracking
from ml_pipeline.core.deploy.deploy_folder import point_current
from ml_pipeline.core.model import training
from ml_pipeline.serving.app import create_app
from ml_pipeline_tests.conftest import tiny_regression_document, tiny_rows

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _config(folder: Path) -> PipelineConfig:
    document = tiny_regression_document(
        serving={"max_rows": 50, "max_body_mb": 0.01, "log_flush_seconds": 0.1}
    )
    return parse_config(document, folder / "pipeline.yaml")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """A project folder whose deploy folder holds one tiny exported champion, v1."""
    config = _config(tmp_path_factory.mktemp("project"))
    X = tiny_rows(60, seed=0)
    y = 2.0 * X["temp"] + (X["weather"] == "rain") * 5.0
    candidate = CandidateConfig(name="linear", estimator="linear")
    model = training.fit_configuration(candidate, "regression", X, y, "timestamp", [], 0)
    signature = tracking.signature_for(X, model.predict(X.head(5)), [])
    exported = config.deploy_dir / "v1"
    mlflow.sklearn.save_model(
        model,
        str(exported),
        signature=signature,
        serialization_format="skops",
        skops_trusted_types=tracking.SKOPS_TRUSTED_TYPES,
        pip_requirements=[],
    )
    (exported / "model_card.json").write_text('{"model": "tiny", "version": "1"}')
    point_current(config.deploy_dir, exported)
    return config


@pytest.fixture
def client(deployed: PipelineConfig) -> Iterator[TestClient]:
    with TestClient(create_app(deployed, token=TOKEN)) as test_client:
        yield test_client


def _split(frame: pd.DataFrame) -> dict:
    landed = tracking.as_landed(frame)
    return {"dataframe_split": {"columns": list(landed.columns), "data": landed.values.tolist()}}


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return body["message"]


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


GUARDED = [("get", "/ready"), ("get", "/model"), ("get", "/metrics")]
SCORING = [("post", "/invocations"), ("post", "/predict")]
NOT_THE_TOKEN = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": TOKEN},  # the token without its scheme
    {"Authorization": "Basic czNjcmV0"},
]


@pytest.mark.parametrize("method,path", GUARDED + SCORING)
@pytest.mark.parametrize("headers", NOT_THE_TOKEN)
def test_every_route_but_health_needs_the_token(
    client: TestClient, method: str, path: str, headers: dict
) -> None:
    response = client.request(method, path, headers=headers)
    assert "Bearer" in _error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path", GUARDED)
def test_status_routes_answer_with_the_token(client: TestClient, method: str, path: str) -> None:
    assert client.request(method, path, headers=AUTH).status_code == 200


def test_invocations_scores_the_mlflow_protocol(client: TestClient) -> None:
    frame = tiny_rows(3, 2)
    response = client.post("/invocations", json=_split(frame), headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "1"
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    expected = 2.0 * frame["temp"] + (frame["weather"] == "rain") * 5.0
    assert np.allclose(predictions, expected, atol=1.0)


def test_a_scoring_request_never_waits_for_the_thread_pool(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI runs every plain-def dependency or route in anyio's thread pool: under load
    # each hand-off costs the event loop a thread switch (measured in the serving bench).
    handed_off: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def noting(function, *args, **kwargs):
        handed_off.append(getattr(function, "__name__", repr(function)))
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", noting)
    response = client.post("/invocations", json=_split(tiny_rows(2, 5)), headers=AUTH)
    assert response.status_code == 200, response.text
    assert client.get("/ready", headers=AUTH).status_code == 200
    assert handed_off == []


def test_csv_and_plain_records_score_the_same(client: TestClient) -> None:
    landed = tracking.as_landed(tiny_rows(4, 3))
    by_csv = client.post(
        "/invocations",
        content=landed.to_csv(index=False),
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    by_records = client.post("/predict", json=landed.to_dict("records"), headers=AUTH)
    assert by_csv.status_code == by_records.status_code == 200
    assert by_csv.json()["predictions"] == by_records.json()["predictions"]


def test_model_describes_the_champion(client: TestClient) -> None:
    described = client.get("/model", headers=AUTH).json()
    assert described["version"] == "1" and described["name"] == "tiny"
    assert set(described["input_columns"]) == {"timestamp", "temp", "weather"}
    assert described["scoring_path"] == "preprocessing compiled to NumPy"


def test_unsupported_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/invocations", content=b"<rows/>", headers={**AUTH, "Content-Type": "application/xml"}
    )
    assert "application/xml" in _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/invocations", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert "not valid JSON" in _error(response, 400, "BAD_REQUEST")


def test_an_empty_body_is_400(client: TestClient) -> None:
    response = client.post("/invocations", content=b"", headers=AUTH)
    assert "empty" in _error(response, 400, "BAD_REQUEST")


def test_too_many_rows_and_too_large_a_body_are_413(client: TestClient) -> None:
    many = client.post("/invocations", json=_split(tiny_rows(51, 4)), headers=AUTH)
    assert "limit of 50 rows" in _error(many, 413, "REQUEST_TOO_LARGE")
    padding = {"dataframe_records": [{"temp": 1.0, "note": "x" * 20_000}]}
    large = client.post("/invocations", json=padding, headers=AUTH)
    assert "exceeds the limit" in _error(large, 413, "REQUEST_TOO_LARGE")


@pytest.mark.parametrize(
    "column,value,words",
    [("timestamp", "not a time", "'timestamp'"), ("temp", "warm", "'temp'")],
)
def test_a_bad_value_names_its_column_with_422(
    client: TestClient, column: str, value: str, words: str
) -> None:
    records = tracking.as_landed(tiny_rows(2, 5)).to_dict("records")
    records[1][column] = value
    response = client.post("/predict", json=records, headers=AUTH)
    assert words in _error(response, 422, "INVALID_PARAMETER_VALUE")


def test_a_missing_required_column_is_422(client: TestClient) -> None:
    response = client.post(
        "/invocations", json={"dataframe_records": [{"temp": 1.0}]}, headers=AUTH
    )
    assert "missing required column" in _error(response, 422, "INVALID_PARAMETER_VALUE")


def test_metrics_count_scored_and_refused_requests(client: TestClient) -> None:
    client.post("/invocations", json=_split(tiny_rows(3, 6)), headers=AUTH)
    client.post("/invocations", json={"dataframe_split": 1}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert 'ml_pipeline_requests_total{endpoint="/invocations",status="200"} 1.0' in text
    assert 'ml_pipeline_request_errors_total{endpoint="/invocations",status="400"} 1.0' in text
    assert "ml_pipeline_rows_scored_total 3.0" in text
    assert 'ml_pipeline_model_info{name="tiny",version="1"} 1.0' in text


def test_no_champion_is_503_and_not_ready(tmp_path: Path) -> None:
    with TestClient(create_app(_config(tmp_path))) as empty:
        response = empty.post("/invocations", json=_split(tiny_rows(1, 7)))
        assert "no champion" in _error(response, 503, "NO_MODEL")
        assert empty.get("/ready").status_code == 503
        assert empty.get("/health").status_code == 200
