"""The composition root: every asset, job, sensor, schedule and resource, wired once."""

import dagster as dg

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.defs.assets.explore import data_profile
from ml_pipeline.defs.assets.ingest import cleaned_data, features, raw_samples
from ml_pipeline.defs.assets.modeling import (
    deployed_model,
    promotion_gate,
    trained_model,
    validation_metrics,
)
from ml_pipeline.defs.assets.monitoring import prediction_monitoring
from ml_pipeline.defs.assets.performance import champion_performance
from ml_pipeline.defs.assets.scoring import batch_predictions
from ml_pipeline.defs.cluster import executor_for
from ml_pipeline.defs.jobs import ingest_job, monitoring_job, scoring_job, training_job
from ml_pipeline.defs.notifications import build_notification_sensors
from ml_pipeline.defs.resources import resources_for
from ml_pipeline.defs.schedules import build_monitoring_schedule, build_retrain_schedule
from ml_pipeline.defs.sensors import (
    build_landing_sensor,
    build_retrain_sensor,
    build_scoring_sensor,
    build_wave_end_sensor,
)

ASSETS = [
    raw_samples,
    cleaned_data,
    features,
    champion_performance,
    data_profile,
    trained_model,
    validation_metrics,
    deployed_model,
    prediction_monitoring,
    batch_predictions,
]


def job_definitions(config: PipelineConfig) -> dg.Definitions:
    """The assets, checks, jobs, resources and executor: what running a job needs, as
    ``ml-pipeline run`` does in process; the automation is added by
    :func:`build_definitions`."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=[promotion_gate],
        jobs=[ingest_job, training_job, monitoring_job, scoring_job],
        resources=resources_for(config),
        # Also the executor of the implicit asset job behind UI materializations and
        # backfills.
        executor=executor_for(config),
    )


def build_definitions(config: PipelineConfig) -> dg.Definitions:
    return dg.Definitions.merge(
        job_definitions(config),
        dg.Definitions(
            sensors=[
                build_landing_sensor(config),
                build_retrain_sensor(config),
                build_wave_end_sensor(config),
                build_scoring_sensor(config),
                *build_notification_sensors(config),
            ],
            schedules=[build_retrain_schedule(config), build_monitoring_schedule(config)],
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by ``dagster dev``; reads the config chosen by ``ML_PIPELINE_CONFIG``."""
    return build_definitions(load_config())
