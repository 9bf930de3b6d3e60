"""What gets deployed, and what is kept out: the refit switch and the baseline bar."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline.core.names import HOLDOUT_CUTOFF_TAG, REFIT_TAG
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, land_demo_bikes, write_config

pytestmark = pytest.mark.slow


def test_refit_off_deploys_the_challenger_as_validated(tmp_path) -> None:
    document = bike_document(training={**FAST_TRAINING, "refit_on_all_data": False})
    config = land_demo_bikes(load_config(write_config(tmp_path / "project", document)))
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(config, instance)
    assert summary.champion.version == "1", summary.validation
    assert summary.validation.refit.refit is False
    version = mlflow_store(config).version("1")
    assert version.source == summary.training.model_uri
    assert REFIT_TAG not in version.tags and version.tags[HOLDOUT_CUTOFF_TAG]
    # The default HGB was fitted on the same sample and scored on the same holdout.
    assert set(summary.validation.default_hgb) == {"rmse", "mae", "r2"}


def test_a_first_model_no_better_than_the_trivial_baseline_is_not_deployed(tmp_path) -> None:
    """The defect: with no champion, a challenger with macro F1 0.208 against the
    baseline's 0.248 was deployed. Here the label is a coin weighted 4:1, independent of
    every column: nothing can beat predicting the priors."""
    rng = np.random.default_rng(3)
    landing = tmp_path / "project" / "landing"
    landing.mkdir(parents=True)
    for batch in range(4):
        frame = pd.DataFrame(
            {
                "a": rng.normal(size=300),
                "b": rng.choice(["x", "y", "z"], 300),
                "label": rng.choice(["common", "rare"], 300, p=[0.8, 0.2]),
            }
        )
        frame.to_csv(landing / f"batch_{batch}.csv", index=False)
    document = {
        "dataset": {"landing_dir": "landing", "target": "label", "task": "classification"},
        "mlflow": {"experiment": "noise", "registered_model": "noise"},
        "training": FAST_TRAINING,
        "sensor": {"settle_seconds": 0},
    }
    config = load_config(write_config(tmp_path / "project", document))
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        summary = run_pipeline(config, instance)
        deployed = instance.fetch_materializations(dg.AssetKey("deployed_model"), limit=1)
        gate = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("validation_metrics"), "promotion_gate"), limit=1
        )[0]
    assert summary.error is None
    # No model serves at all: that, unlike a kept champion, is worth the check's warning.
    assert gate.status.value == "FAILED"
    assert gate.event.dagster_event.event_specific_data.description.startswith("no model serves")
    decision = summary.validation.decision
    assert not decision.promote, (
        decision,
        summary.validation.challenger,
        summary.validation.baseline,
    )
    assert "does not beat the trivial baseline" in decision.reason
    assert summary.champion.version is None and summary.artifact_path is None
    assert not deployed.records
    assert mlflow_store(config).champion() is None
