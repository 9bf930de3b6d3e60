"""The whole asset graph, materialized on an ephemeral instance in a temp dir."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline_tests.churn_data import CHURN_DATASET, land_churn
from ml_pipeline_tests.conftest import FAST_TRAINING, write_config

pytestmark = pytest.mark.slow

SCORE_IN_FRESH_PROCESS = """
import json, sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_csv(sys.argv[2]).drop(columns=[sys.argv[3]])
schema = [c.name for c in model.metadata.get_input_schema().inputs]
predictions = model.predict(rows)
print(json.dumps({"n": len(predictions), "schema": schema,
                  "predictions": pd.Series(predictions).astype(str).tolist()[:5]}))
"""


def score_in_fresh_process(artifact: str, csv: Path, target: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCORE_IN_FRESH_PROCESS, artifact, str(csv), target],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def clean_landing_file(config) -> Path:
    """A landed file without mistyped numbers, which the model's schema rightly refuses."""
    truth = config.data_dir / "demo_truth"
    for path in sorted(config.dataset.landing_dir.glob("*.csv")):
        faults = pd.read_csv(truth / f"{path.stem}.faults.csv")
        if not (faults.fault == "mistyped").any():
            return path
    raise AssertionError("every demo batch has mistyped values")


def test_bike_pipeline_end_to_end(landed_bikes, tmp_path) -> None:
    config = landed_bikes
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(config, instance)
        assert summary.error is None
        assert len(summary.ingested) == 8 and not summary.failed
        assert summary.rows["cleaned_data"] == summary.rows["train"] + summary.rows["holdout"]
        champion = summary.champion
        assert champion.version == "1" and champion.promoted
        assert champion.metrics["rmse"] < 0.8 * champion.baseline["rmse"]
        assert summary.training.holdout.startswith("rows with timestamp after")
        for table in ("raw_samples", "cleaned_data", "features"):
            assert len(instance.get_materialized_partitions(dg.AssetKey(table))) == 8

        cleaned_meta = (
            instance.fetch_materializations(dg.AssetKey("cleaned_data"), limit=1)
            .records[0]
            .asset_materialization.metadata
        )
        for key in (
            "dagster/row_count",
            "duplicates_removed",
            "missing_values",
            "outliers",
            "seconds",
            "summary",
        ):
            assert key in cleaned_meta, key

        again = run_pipeline(config, instance)
        assert again.ingested == [] and len(again.unchanged) == 8
        assert again.training is None and again.error is None
        assert again.not_retrained.startswith("nothing new: champion v1 kept (0 new partition(s)")

        forced = run_pipeline(config, instance, retrain=True)
        assert forced.champion.version == "1" and not forced.champion.promoted
        assert forced.validation.challenger == summary.validation.challenger

    artifact = Path(summary.artifact_path)
    assert artifact.parent == config.deploy_dir and (artifact / "MLmodel").is_file()
    # Which of the search and the default HGB was deployed, and why, wherever a person looks.
    verdict = summary.training.yardstick
    assert " kept: default HGB rmse " in verdict or verdict.startswith("default HGB deployed")
    assert f"  {verdict}" in summary.lines()
    card = json.loads((artifact / "model_card.json").read_text())
    assert card["yardstick"] == verdict
    assert f"- against the default HGB: {verdict}" in (artifact / "model_card.md").read_text()
    landed = clean_landing_file(config)
    scored = score_in_fresh_process(str(artifact), landed, "count")
    assert scored["n"] == len(pd.read_csv(landed))
    assert "count" not in scored["schema"] and "timestamp" in scored["schema"]


def test_a_different_dataset_runs_from_config_alone(tmp_path) -> None:
    project = tmp_path / "churn"
    document = {
        "dataset": CHURN_DATASET,
        "storage": {"data_dir": "state"},
        "mlflow": {"experiment": "churn", "registered_model": "churn"},
        "training": FAST_TRAINING,
        "promotion": {"thresholds": {"accuracy": 0.6}},
        "sensor": {"settle_seconds": 0},
    }
    config = load_config(write_config(project, document))
    files = land_churn(config.dataset.landing_dir)
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(config, instance)
    assert summary.error is None, summary.error
    assert summary.ingested == ["churn_00", "churn_01", "churn_02", "churn_03"]
    assert summary.training.holdout.startswith("stable hash of customer_id")
    metrics, baseline = summary.champion.metrics, summary.champion.baseline
    assert metrics["roc_auc"] > 0.7 and metrics["log_loss"] < baseline["log_loss"]
    assert Path(summary.artifact_path).parent == project / "state" / "deploy"
    scored = score_in_fresh_process(summary.artifact_path, files[0], "churned")
    assert scored["n"] == 150 and set(scored["predictions"]) <= {"yes", "no"}
