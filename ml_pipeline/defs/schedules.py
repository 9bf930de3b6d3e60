"""Periodic retraining and serving monitoring, on the crons from config."""

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.defs.jobs import monitoring_job, training_job


def build_retrain_schedule(config: PipelineConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="retrain_schedule",
        job=training_job,
        cron_schedule=config.schedule.retrain_cron,
        execution_timezone=config.schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        tags={names.TRIGGER_TAG: names.TRIGGER_SCHEDULE},
        description=f"Retrains on '{config.schedule.retrain_cron}' ({config.schedule.timezone}).",
    )


def build_monitoring_schedule(config: PipelineConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="monitoring_schedule",
        job=monitoring_job,
        cron_schedule=config.monitoring.cron,
        execution_timezone=config.schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Summarises the last {config.monitoring.window_hours:g} hours of scoring "
            f"on '{config.monitoring.cron}'."
        ),
    )
