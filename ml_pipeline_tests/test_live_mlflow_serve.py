"""The exported artifact served by MLflow's own scoring server, over real HTTP."""

import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_pipeline.execution import run_pipeline
from ml_pipeline_tests.live import free_port, running, wait_for_http

pytestmark = pytest.mark.slow


def test_mlflow_models_serve_scores_landed_rows(landed_bikes, tmp_path) -> None:
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(landed_bikes, instance)
    assert summary.error is None, summary.error
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    port = free_port()
    command = [
        mlflow,
        "models",
        "serve",
        "-m",
        summary.artifact_path,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    log = tmp_path / "serve.log"
    rows = pd.read_csv(sorted(landed_bikes.dataset.landing_dir.glob("*.csv"))[0], nrows=5)
    rows = rows.drop(columns=["count", "casual", "registered"])
    for column in ("temp", "humidity", "windspeed"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
    # MLflow's server starts `uvicorn` by name, as it does in an activated environment.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with running(command, log, env={"PATH": path}) as server:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server, log)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
    assert len(predictions) == 5
    assert all(isinstance(value, float) and value > -50 for value in predictions)
