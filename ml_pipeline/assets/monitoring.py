"""Monitoring of the scoring service, from its prediction log."""

import datetime as dt

import dagster as dg

from ml_pipeline.assets.metadata import drift_table, markdown_table
from ml_pipeline.core.monitor.monitoring import summarize
from ml_pipeline.core.monitor.prediction_log import read_prediction_log
from ml_pipeline.core.monitor.reference import load_reference
from ml_pipeline.resources import PipelineSettings

MONITORING_GROUP = "monitoring"


@dg.asset(
    group_name=MONITORING_GROUP,
    description=(
        "Requests, rows, errors and latency of the scoring service over the configured "
        "window, and the drift of the inputs it scored against the champion's training "
        "reference (PSI per column). Read from the prediction log under the data folder."
    ),
    kinds={"pandas"},
)
def prediction_monitoring(settings: PipelineSettings) -> dg.MaterializeResult:
    config = settings.load()
    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(hours=config.monitoring.window_hours)
    log = read_prediction_log(config.predictions_dir, start, end)
    reference = load_reference(config.reference_path)
    report = summarize(log, reference, start, end, config.monitoring.drift_sample_rows)
    drift = report.drift
    hours = report.by_hour.assign(hour=report.by_hour["hour"].astype(str))
    metadata: dict[str, object] = {
        "window": f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        "requests": report.requests,
        "rows_scored": report.rows_scored,
        "requests_by_model_version": markdown_table(
            [{"version": v, "scored_requests": n} for v, n in report.by_version.items()]
        ),
        "volume_by_hour": markdown_table(hours.round(2).to_dict("records")),
        "sampled_input_rows": report.sampled_rows,
    }
    # Without requests there is no latency or error rate: a zero would read as perfect.
    if report.requests:
        metadata["rejected_share"] = round(report.error_share(), 4)
        metadata["latency_p50_ms"] = round(report.latency_p50_ms, 2)
        metadata["latency_p99_ms"] = round(report.latency_p99_ms, 2)
    else:
        metadata["latency"] = "no requests in the window"
    if drift is None:
        metadata["input_drift"] = report.drift_unmeasured
    else:
        metadata["input_drift_overall_psi"] = round(drift.overall, 4)
        metadata["input_drift_by_column"] = drift_table(drift)
        metadata["shifted_columns"] = ", ".join(drift.shifted()) or "none"
    return dg.MaterializeResult(metadata=metadata)
