"""Monitoring of the scoring service, from its prediction log."""

import datetime as dt

import dagster as dg

from ml_pipeline.core import names
from ml_pipeline.core.monitor.monitoring import summarize
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.core.monitor.reference import load_reference
from ml_pipeline.defs.assets.metadata import drift_table, markdown_table
from ml_pipeline.defs.resources import PipelineSettings
from ml_pipeline.defs.retries import retry_only_outages

MONITORING_GROUP = "monitoring"


@dg.asset(
    # What the champion's service saw, against the champion's training reference.
    deps=[names.DEPLOYED_MODEL],
    group_name=MONITORING_GROUP,
    description=(
        "Requests, rows, errors and latency of the scoring service over the configured "
        "window, and the drift of the inputs it scored against the champion's training "
        "reference (PSI per column). Read from the prediction log under the data folder."
    ),
    kinds={"pandas"},
)
@retry_only_outages
def prediction_monitoring(settings: PipelineSettings) -> dg.MaterializeResult:
    config = settings.load()
    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(hours=config.monitoring.window_hours)
    log = read_prediction_log(config.predictions_dir, start, end)
    reference = load_reference(config.reference_path)
    report = summarize(log, reference, start, end, config.monitoring.drift_sample_rows)
    hours = report.by_hour.assign(hour=report.by_hour["hour"].astype(str))
    metadata: dict[str, object] = {
        "window": f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        **report.figures(),
        "requests_by_model_version": markdown_table(
            [{"version": v, "scored_requests": n} for v, n in report.by_version.items()]
        ),
        "volume_by_hour": markdown_table(hours.round(2).to_dict("records")),
    }
    if report.drift is not None:
        metadata["input_drift_by_column"] = drift_table(report.drift)
    return dg.MaterializeResult(metadata=metadata)
