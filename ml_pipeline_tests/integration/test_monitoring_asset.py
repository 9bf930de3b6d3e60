"""The monitoring asset: nothing to report reads as no data, not zeros; late labels
joined to served rows give live metrics and, beyond the margin, a decay that retrains."""

import datetime as dt
import json
import re

import dagster as dg
import numpy as np
import pandas as pd

from ml_pipeline.commands.labels import hand_in_labels
from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.deploy.deploy_folder import point_current
from ml_pipeline.core.monitor.live import label_id_column
from ml_pipeline.core.monitor.prediction_log import LoggedRequest, write_records
from ml_pipeline.defs.assets.monitoring import prediction_monitoring
from ml_pipeline.defs.resources import resources_for
from ml_pipeline.runtime.history import retraining_evidence


def test_no_requests_and_no_champion_read_as_no_data(bike_config: PipelineConfig) -> None:
    result = dg.materialize(
        [prediction_monitoring],
        resources=resources_for(bike_config),
        instance=dg.DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("prediction_monitoring")[0].metadata
    assert metadata["requests"].value == 0
    assert metadata["latency"].value == "no requests in the window"
    assert "no reference profile" in metadata["input_drift"].value
    for zero_looking in ("latency_p50_ms", "latency_p99_ms", "rejected_share"):
        assert zero_looking not in metadata
    assert "input_drift_overall_psi" not in metadata


def _served_and_labelled(config: PipelineConfig, noise: float) -> None:
    """v1 deployed with a holdout rmse of 1, 300 rows it served, and their late labels
    in a file handed in through the labels command."""
    rng = np.random.default_rng(0)
    version_dir = config.deploy_dir / "v1"
    version_dir.mkdir(parents=True)
    card = {"version": "1", "holdout_metrics": {"rmse": 1.0}}
    (version_dir / "model_card.json").write_text(json.dumps(card))
    point_current(config.deploy_dir, version_dir)
    ids = [f"ride-{i}" for i in range(300)]
    truth = rng.normal(100, 20, 300)
    record = LoggedRequest(
        time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        endpoint="/predict",
        model_version="1",
        status=200,
        rows=300,
        latency_ms=2.0,
        row_ids=ids,
        predictions=(truth + rng.normal(0, noise, 300)).tolist(),
    )
    write_records([record], config.predictions_dir)
    handed = config.data_dir.parent / "labels-monday.csv"
    id_column = label_id_column(config.dataset.id_columns)
    labels = pd.DataFrame({id_column: [*ids, "never-served"], config.dataset.target: [*truth, 1]})
    labels.to_csv(handed, index=False)
    hand_in_labels(config, handed)
    assert handed.exists()  # the user's file stays where it was


def test_late_labels_give_live_metrics_and_decay_that_calls_for_retraining(
    bike_config: PipelineConfig,
) -> None:
    _served_and_labelled(bike_config, noise=5.0)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [prediction_monitoring], resources=resources_for(bike_config), instance=instance
    )
    metadata = result.asset_materializations_for_node("prediction_monitoring")[0].metadata
    assert metadata["matched_labels"].value == 300
    assert metadata["unmatched_labels"].value == 1
    assert re.search(r"\| champion \|\s+1 \|\s+300 \|", metadata["live_metrics_by_version"].value)
    assert metadata[names.DECAY].value > 0.1
    assert metadata["served_decay_check"].value.startswith("decayed: rmse")
    evidence, _after, _newest = retraining_evidence(instance)
    assert evidence.decay == metadata[names.DECAY].value


def test_a_champion_as_good_as_at_validation_shows_no_served_decay(
    bike_config: PipelineConfig,
) -> None:
    _served_and_labelled(bike_config, noise=1.0)
    result = dg.materialize(
        [prediction_monitoring],
        resources=resources_for(bike_config),
        instance=dg.DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("prediction_monitoring")[0].metadata
    assert names.DECAY not in metadata
    assert metadata["served_decay_check"].value.startswith("no decay")
