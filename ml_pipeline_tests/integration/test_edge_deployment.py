"""deploy.onnx on the asset graph: every candidate is fitted in its edge-exact form, the
champion the gate picks is published as model.onnx, and ``edge-score`` on files that
never trained it agrees with ``mlflow.pyfunc`` row for row, for a regression (the demo)
and for a classification with text categories and gaps."""

import csv
import datetime as dt
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
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline_tests.churn_data import CHURN_DATASET, churn_batch, land_churn
from ml_pipeline_tests.conftest import (
    FAST_TRAINING,
    bike_document,
    land_demo_bikes,
    write_config,
)

pytestmark = pytest.mark.slow

# Every estimator kind, so whichever wins is the one shipped.
EVERY_KIND = {
    **FAST_TRAINING,
    "candidates": [
        *FAST_TRAINING["candidates"],
        {
            "name": "forest",
            "estimator": "random_forest",
            "params": {"n_estimators": 15, "max_depth": 12},
        },
    ],
}
TOLERANCE = 1e-3


def _deploy(tmp_path, name: str, document: dict):
    document = {**document, "deploy": {"onnx": True, "onnx_tolerance": TOLERANCE}}
    document["mlflow"] = {"experiment": f"edge_{name}", "registered_model": f"edge_{name}"}
    config = load_config(write_config(tmp_path / name, document))
    return config


def _run(config):
    with dg.DagsterInstance.ephemeral(tempdir=str(config.data_dir / "instance")) as instance:
        summary = run_pipeline(config, instance)
    assert summary.error is None and summary.champion.promoted, summary.lines()
    current = (config.deploy_dir / "current").resolve()
    card = json.loads((current / "model_card.json").read_text())
    return summary, current, card


def _edge_score(model, rows_csv) -> list[dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "ml_pipeline.edge.scorer", str(model), str(rows_csv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def _scored_rows(path, printed, target: str) -> pd.DataFrame:
    """The file's rows the edge scored, as read_csv gives them (the target dropped)."""
    frame = pd.read_csv(path)
    kept = [i for i, line in enumerate(printed) if not line["score_error"]]
    return frame.iloc[kept].drop(columns=[target], errors="ignore"), kept


def test_the_demo_champion_is_published_and_agrees_with_pyfunc_on_unseen_files(
    tmp_path,
) -> None:
    config = land_demo_bikes(_deploy(tmp_path, "demo", bike_document(training=EVERY_KIND)))
    summary, current, card = _run(config)
    assert (current / "model.onnx").is_file(), card["edge"]
    assert summary.edge.startswith("ONNX parity: ") and "rows agree" in summary.edge
    assert card["edge"]["onnx"] == "model.onnx"
    assert "edge (model.onnx): ONNX parity:" in (current / "model_card.md").read_text()
    assert not any("not exact" in row.get("error", "") for row in summary.training.candidates)
    pyfunc = mlflow.pyfunc.load_model(str(current))
    # Demo days after those landed: faults, gaps and all, never seen by training.
    unseen = tmp_path / "unseen"
    files = write_demo_data(
        DemoSpec(batches=3, rows_per_batch=240, start=dt.date(2024, 6, 1), seed=99),
        unseen,
        unseen / "truth",
    )
    for path in files:
        printed = _edge_score(current / "model.onnx", path)
        rows, kept = _scored_rows(path, printed, config.dataset.target)
        assert len(kept) > 0.8 * len(printed)
        assert [printed[i]["record_id"] for i in kept] == rows["record_id"].astype(str).tolist()
        edge = np.array([float(printed[i]["prediction"]) for i in kept])
        served = np.asarray(pyfunc.predict(rows), dtype=float)
        assert (np.abs(edge - served) <= TOLERANCE * np.maximum(1, np.abs(served))).all()
    client = mlflow.MlflowClient(config.mlflow_tracking_uri)
    logged = [a.path for a in client.list_artifacts(card["mlflow_run_id"], "edge_model")]
    assert any(p.endswith("MLmodel") for p in logged)


def test_a_classifier_with_text_categories_and_gaps_gives_pyfunc_labels_on_the_edge(
    tmp_path,
) -> None:
    document = {
        "dataset": dict(CHURN_DATASET),
        "training": EVERY_KIND,
        "sensor": {"settle_seconds": 0},
    }
    config = _deploy(tmp_path, "churn", document)
    landed = land_churn(config.dataset.landing_dir, batches=6)
    for index, path in enumerate(landed):
        frame = pd.read_csv(path)
        frame.loc[index::11, "plan"] = None
        frame.loc[index::13, "support_calls"] = None
        frame.to_csv(path, index=False)
    _summary, current, card = _run(config)
    assert (current / "model.onnx").is_file(), card["edge"]
    pyfunc = mlflow.pyfunc.load_model(str(current))
    for index in (20, 21):
        frame = churn_batch(index)
        frame.loc[::7, "region"] = "moon"  # a category training never saw
        frame.loc[::9, "plan"] = None
        frame.loc[::10, "contract"] = " "
        frame.loc[::8, "monthly_charges"] = None
        path = tmp_path / f"unseen_{index}.csv"
        frame.to_csv(path, index=False)
        printed = _edge_score(current / "model.onnx", path)
        rows, kept = _scored_rows(path, printed, "churned")
        assert len(kept) == len(frame)
        assert [line["customer_id"] for line in printed] == frame["customer_id"].tolist()
        assert [line["prediction"] for line in printed] == [str(v) for v in pyfunc.predict(rows)]
        sklearn_model = mlflow.sklearn.load_model(str(current))
        expected = sklearn_model.predict_proba(rows)
        classes = [str(c) for c in sklearn_model.classes_]
        edge = np.array([[float(line[f"probability__{c}"]) for c in classes] for line in printed])
        np.testing.assert_allclose(edge, expected, atol=TOLERANCE)
