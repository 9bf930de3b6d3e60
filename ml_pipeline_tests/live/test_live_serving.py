"""The scoring service over real HTTP: protocol, fuzzing, hot swap under load.

Routes, auth and every refusal are tested in process (``serving/test_http.py``); what
stays here needs a real server and a real champion: ``mlflow.pyfunc`` parity of a
trained model, schemathesis over the socket, and a retrain while clients keep scoring.

One champion is trained for the module and served by ``ml-pipeline serve`` in its
own process; the last test retrains while clients keep scoring. Every test reads the
served version from the deploy folder and makes the requests it counts, so each can
run alone (``pytest -k``) or in any order.
"""

import datetime as dt
import json
import shutil
import sys
import threading
from pathlib import Path

import dagster as dg
import mlflow.pyfunc
import pandas as pd
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.defs.assets.monitoring import prediction_monitoring
from ml_pipeline.defs.resources import resources_for
from ml_pipeline.serving.model import current_version_dir
from ml_pipeline_tests.conftest import bike_document, land_demo_bikes, write_config
from ml_pipeline_tests.servers import free_port, poll_until, running, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.live]

TOKEN = "test-token-7c1f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_ROWS = 50
SERVING = {"max_rows": MAX_ROWS, "max_body_mb": 0.05, "log_flush_seconds": 0.5, "poll_seconds": 0.2}


def _train(config: PipelineConfig, instance_dir: Path, promotion: str = "auto") -> None:
    with dg.DagsterInstance.ephemeral(tempdir=str(instance_dir)) as instance:
        summary = run_pipeline(config, instance, promotion=promotion)
    assert summary.error is None, summary.error


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    root = tmp_path_factory.mktemp("serving")
    config = load_config(write_config(root / "project", bike_document(serving=SERVING)))
    land_demo_bikes(config)
    _train(config, root / "instance-1")
    return config


@pytest.fixture(scope="module")
def base_url(project: PipelineConfig, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    cli = shutil.which("ml-pipeline", path=str(Path(sys.executable).parent))
    command = [cli, "serve", "--config", str(project.source_path), "--port", str(port)]
    log = tmp_path_factory.mktemp("server") / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with running(command, log, env={"ML_PIPELINE_API_TOKEN": TOKEN}) as server:
        wait_for_http(f"{url}/health", server, log)
        yield url


@pytest.fixture(scope="module")
def landed_rows(project: PipelineConfig) -> pd.DataFrame:
    first = sorted(project.dataset.landing_dir.glob("*.csv"))[0]
    return pd.read_csv(first, nrows=5).drop(columns=["count"])


def _served(project: PipelineConfig) -> str:
    return current_version_dir(project.deploy_dir).name.removeprefix("v")


def _post(url: str, body: object, **kwargs) -> requests.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return requests.post(url, json=body, headers=headers, timeout=30, **kwargs)


def test_mlflow_clients_get_the_same_predictions_in_every_format(
    base_url: str, landed_rows: pd.DataFrame, project: PipelineConfig
) -> None:
    split = json.loads(landed_rows.to_json(orient="split", index=False))
    records = json.loads(landed_rows.to_json(orient="records"))
    bodies = {
        "dataframe_split": {"dataframe_split": split},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {
            "inputs": {c: json.loads(landed_rows[c].to_json(orient="values")) for c in landed_rows}
        },
    }
    expected = mlflow.pyfunc.load_model(str(project.deploy_dir / "current")).predict(
        landed_rows.drop(columns=["casual", "registered", "record_id"])
    )
    for name, body in bodies.items():
        response = _post(f"{base_url}/invocations", body)
        assert response.status_code == 200, (name, response.text)
        assert response.headers["X-Model-Version"] == _served(project)
        assert response.json()["predictions"] == pytest.approx(list(expected), abs=1e-9), name
    csv = requests.post(
        f"{base_url}/invocations",
        data=landed_rows.to_csv(index=False),
        headers={**AUTH, "Content-Type": "text/csv"},
        timeout=30,
    )
    assert csv.json()["predictions"] == pytest.approx(list(expected), abs=1e-9)
    plain = _post(f"{base_url}/predict", records)
    assert plain.json()["predictions"] == pytest.approx(list(expected), abs=1e-9)


def test_gaps_floats_and_extra_columns_are_scored_as_pyfunc_scores_them(
    base_url: str, landed_rows: pd.DataFrame, project: PipelineConfig
) -> None:
    client = landed_rows.astype({"holiday": "float64"})
    client.loc[0, "holiday"] = None
    client.loc[1, "temp"] = float("nan")
    client.loc[2, "weather"] = "never seen before"
    client = client.assign(note="stray column")[[*reversed(client.columns), "note"]]
    expected = mlflow.pyfunc.load_model(str(project.deploy_dir / "current")).predict(client)
    split = json.loads(client.to_json(orient="split", index=False))
    response = _post(f"{base_url}/invocations", {"dataframe_split": split})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == pytest.approx(list(expected), abs=1e-9)


def test_status_endpoints_describe_the_champion(
    base_url: str, landed_rows: pd.DataFrame, project: PipelineConfig
) -> None:
    version = _served(project)
    split = json.loads(landed_rows.to_json(orient="split", index=False))
    assert _post(f"{base_url}/invocations", {"dataframe_split": split}).status_code == 200
    refused = _post(f"{base_url}/invocations", {"dataframe_records": [{"temp": "warm"}]})
    assert refused.status_code == 422
    assert requests.get(f"{base_url}/ready", headers=AUTH, timeout=10).json()["ready"] is True
    model = requests.get(f"{base_url}/model", headers=AUTH, timeout=10).json()
    assert model["version"] == version
    assert model["alias"] == "champion"
    assert len(model["trained_on_partitions"]) == 8
    assert {"rmse", "mae", "r2"} <= set(model["holdout_metrics"])
    assert dt.datetime.fromisoformat(model["created"])
    metrics = requests.get(f"{base_url}/metrics", headers=AUTH, timeout=10)
    assert metrics.headers["content-type"].startswith("text/plain")
    assert f'ml_pipeline_model_info{{name="bikes_test",version="{version}"}} 1' in metrics.text
    assert 'ml_pipeline_requests_total{endpoint="/invocations",status="200"}' in metrics.text
    assert 'ml_pipeline_request_errors_total{endpoint="/invocations",status="422"}' in metrics.text
    assert "ml_pipeline_request_duration_seconds_bucket" in metrics.text
    docs = requests.get(f"{base_url}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_fuzzed_requests_never_get_a_server_error(base_url: str) -> None:
    """Schemathesis generates requests from the service's own OpenAPI document.

    Driven through Hypothesis directly: schemathesis' pytest plugin does not run on
    pytest 9. The default checks apply: no 5xx, documented status codes, content
    types and response schemas, and schema-valid JSON bodies accepted.
    """
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /invocations", "POST /predict"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case) -> None:
            # A CSV body is documented as free text, so an arbitrary string is "valid" by
            # the schema yet rarely a table; every other check still applies to it.
            excluded = [positive_data_acceptance] if case.media_type == "text/csv" else []
            case.call_and_validate(headers=AUTH, timeout=30, excluded_checks=excluded)

        fuzz()


def _load(url: str, body: dict, stop: threading.Event, seen: list) -> None:
    with requests.Session() as session:
        while not stop.is_set():
            try:
                response = session.post(url, json=body, headers=AUTH, timeout=30)
                seen.append((response.status_code, response.headers.get("X-Model-Version")))
            except requests.RequestException as error:
                seen.append((type(error).__name__, None))


def test_a_new_champion_is_swapped_in_under_load_without_a_failed_request(
    base_url: str, landed_rows: pd.DataFrame, project: PipelineConfig, tmp_path: Path
) -> None:
    body = {"dataframe_split": json.loads(landed_rows.head(1).to_json(orient="split", index=False))}
    before = _served(project)
    after = str(int(before) + 1)
    stop, seen = threading.Event(), []
    clients = [
        threading.Thread(target=_load, args=(f"{base_url}/invocations", body, stop, seen))
        for _ in range(4)
    ]
    for client in clients:
        client.start()
    try:
        _train(project, tmp_path / "instance-2", promotion="force")
        # Keep the load on until the new version has answered a good many requests.
        poll_until(
            lambda: sum(version == after for _, version in list(seen)) >= 20,
            f"20 requests answered by version {after}",
        )
    finally:
        stop.set()
        for client in clients:
            client.join()
    model = requests.get(f"{base_url}/model", headers=AUTH, timeout=10).json()
    assert model["version"] == after
    failed = [outcome for outcome in seen if outcome[0] != 200]
    assert not failed, failed[:5]
    assert {version for _, version in seen} == {before, after}
    assert len(seen) > 50

    def flushed() -> bool:
        end = dt.datetime.now(dt.UTC)
        log = read_prediction_log(project.predictions_dir, end - dt.timedelta(hours=1), end)
        return {before, after} <= set(log["model_version"].dropna()) and len(log) >= len(seen)

    poll_until(flushed, "every request of the swap in the prediction log", every=0.2)
    result = dg.materialize(
        [prediction_monitoring],
        resources=resources_for(project),
        instance=dg.DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("prediction_monitoring")[0].metadata
    assert metadata["requests"].value >= len(seen)
    assert metadata["sampled_input_rows"].value > 0
    assert "temp" in metadata["input_drift_by_column"].value
