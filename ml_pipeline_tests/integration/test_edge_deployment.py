"""deploy.onnx on the asset graph: model.onnx is published beside the MLflow model only
when it predicts like it, the edge-compatible variant stands in for gradient boosting
with native categories, and a failed check leaves the MLflow deployment going ahead."""

import csv
import io
import json
import subprocess
import sys

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime", reason="the edge extra is not installed")
pytest.importorskip("skl2onnx", reason="the edge extra is not installed")

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline_tests.conftest import (
    FAST_TRAINING,
    bike_document,
    land_demo_bikes,
    write_config,
)

pytestmark = pytest.mark.slow

# Without the default HGB, which would otherwise be deployed in the weak ridge's place.
RIDGE_ONLY = {
    **FAST_TRAINING,
    "candidates": [FAST_TRAINING["candidates"][0]],
    "reference_model": False,
}
HGB_ONLY = {**FAST_TRAINING, "candidates": [FAST_TRAINING["candidates"][1]]}


def _deploy(tmp_path, name: str, training: dict, **deploy):
    document = bike_document(training=training, deploy={"onnx": True, **deploy})
    document["mlflow"] = {"experiment": f"edge_{name}", "registered_model": f"edge_{name}"}
    config = land_demo_bikes(load_config(write_config(tmp_path / name, document)))
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / name / "instance")) as instance:
        summary = run_pipeline(config, instance)
    assert summary.error is None and summary.champion.promoted, summary.lines()
    exported = config.deploy_dir / "v1"
    card = json.loads((exported / "model_card.json").read_text())
    return config, summary, exported, card


def _clean_rows(config) -> pd.DataFrame:
    frame = pd.read_csv(sorted(config.dataset.landing_dir.glob("*.csv"))[0])
    numeric = frame[["temp", "humidity", "windspeed"]].apply(pd.to_numeric, errors="coerce")
    readable = numeric.notna() | frame[["temp", "humidity", "windspeed"]].isna()
    return frame[readable.all(axis=1)].drop(columns=[config.dataset.target]).head(40)


def _edge_score(model, rows_csv) -> np.ndarray:
    done = subprocess.run(
        [sys.executable, "-m", "ml_pipeline.edge.scorer", str(model), str(rows_csv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = list(csv.DictReader(io.StringIO(done.stdout)))
    return np.array([float(line["prediction"]) for line in printed])


def test_an_exact_conversion_is_published_and_logged(tmp_path) -> None:
    config, summary, exported, card = _deploy(tmp_path, "ridge", RIDGE_ONLY)
    assert (exported / "model.onnx").is_file()
    assert summary.edge.startswith("ONNX parity: ") and "rows agree" in summary.edge
    assert card["edge"]["onnx"] == "model.onnx" and card["edge"]["variant"] is False
    assert "edge (model.onnx): ONNX parity:" in (exported / "model_card.md").read_text()
    rows = _clean_rows(config)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    served = mlflow.pyfunc.load_model(str(exported)).predict(rows)
    np.testing.assert_allclose(
        _edge_score(exported / "model.onnx", tmp_path / "rows.csv"), served, atol=1e-3
    )
    client = mlflow.MlflowClient(config.mlflow_tracking_uri)
    run_id = card["mlflow_run_id"]
    logged = [a.path for a in client.list_artifacts(run_id, "edge_model")]
    assert "edge_model/MLmodel" in logged or any(p.endswith("MLmodel") for p in logged)


def test_native_category_boosting_is_replaced_by_its_edge_variant(tmp_path) -> None:
    config, summary, exported, card = _deploy(tmp_path, "hgb", HGB_ONLY)
    assert summary.edge.startswith("ONNX parity failed: ")
    assert "published an edge-compatible variant" in summary.edge
    assert (exported / "model.onnx").is_file()
    edge = card["edge"]
    assert edge["variant"] is True and edge["onnx"] == "model.onnx"
    assert set(edge["variant_metrics"]) >= {"rmse", "r2"}
    # The variant's holdout scores are shown beside the champion's.
    assert "edge variant (model.onnx)" in (exported / "model_card.md").read_text()
    rows = _clean_rows(config)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    predictions = _edge_score(exported / "model.onnx", tmp_path / "rows.csv")
    assert len(predictions) == len(rows) and np.isfinite(predictions).all()


def test_a_failed_check_publishes_no_onnx_and_deploys_the_mlflow_model(tmp_path) -> None:
    # No float32 model agrees with the float64 one to 1e-12: the check must refuse it.
    _config, summary, exported, card = _deploy(tmp_path, "strict", RIDGE_ONLY, onnx_tolerance=1e-12)
    assert not (exported / "model.onnx").exists()
    assert (exported / "MLmodel").is_file() and summary.champion.version == "1"
    assert summary.edge.startswith("ONNX parity failed: ")
    assert "rows differ, max" in summary.edge
    assert card["edge"]["onnx"] is None
    assert f"edge: {summary.edge}" in summary.lines()
