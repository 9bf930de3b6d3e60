"""The exported artifact served by MLflow's own scoring server, over real HTTP: on rows
the model never saw, it answers exactly what the model answers in process."""

import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path

import dagster as dg
import mlflow.pyfunc
import pandas as pd
import pytest

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.core.data.demo_data import DemoSpec, generate_batch
from ml_pipeline_tests.servers import free_port, running, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.live]


def test_mlflow_models_serve_scores_unseen_rows_as_the_model_does(landed_bikes, tmp_path) -> None:
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(landed_bikes, instance)
    assert summary.error is None, summary.error
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    port = free_port()
    command = [
        mlflow_cli,
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
    # The day after the eight landed ones: rows no training or holdout ever held.
    unseen = generate_batch(DemoSpec(batches=9, rows_per_batch=240), 8)[0].head(20)
    rows = unseen.drop(columns=["count", "casual", "registered"])
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
    expected = mlflow.pyfunc.load_model(summary.artifact_path).predict(rows)
    assert predictions == pytest.approx(list(expected), abs=1e-6)
