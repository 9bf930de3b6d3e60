"""Periodic retraining, on the cron from config."""

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.jobs import training_job


def build_retrain_schedule(config: PipelineConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="retrain_schedule",
        job=training_job,
        cron_schedule=config.schedule.retrain_cron,
        execution_timezone=config.schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        tags={"ml_pipeline/trigger": "schedule"},
        description=f"Retrains on '{config.schedule.retrain_cron}' ({config.schedule.timezone}).",
    )
