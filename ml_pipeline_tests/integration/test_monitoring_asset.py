"""The monitoring asset with nothing to report says so instead of printing zeros."""

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.defs.assets.monitoring import prediction_monitoring
from ml_pipeline.defs.resources import resources_for


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
