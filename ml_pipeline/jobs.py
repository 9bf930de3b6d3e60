"""The ingest, training and monitoring jobs.

Both run in-process: a subprocess per step would cost more than most steps do.
"""

import dagster as dg

from ml_pipeline.assets.explore import data_profile
from ml_pipeline.assets.ingest import cleaned_data, features, landed_files, raw_samples
from ml_pipeline.assets.modeling import deployed_model, trained_model, validation_metrics
from ml_pipeline.assets.monitoring import prediction_monitoring

INGEST_JOB = "ingest_job"
TRAINING_JOB = "training_job"
MONITORING_JOB = "monitoring_job"
JOB_TAG = "ml_pipeline/job"

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.assets(raw_samples, cleaned_data, features),
    partitions_def=landed_files,
    executor_def=dg.in_process_executor,
    description="Read, clean and featurize one landed file.",
    tags={JOB_TAG: "ingest"},
)

training_job = dg.define_asset_job(
    TRAINING_JOB,
    selection=dg.AssetSelection.assets(
        trained_model, validation_metrics, deployed_model, data_profile
    ),
    executor_def=dg.in_process_executor,
    description=(
        "Profile the cleaned history, train a challenger on all ingested partitions, "
        "validate it and deploy the winner."
    ),
    tags={JOB_TAG: "training"},
)

monitoring_job = dg.define_asset_job(
    MONITORING_JOB,
    selection=dg.AssetSelection.assets(prediction_monitoring),
    executor_def=dg.in_process_executor,
    description="Summarise the scoring service's prediction log: volume and input drift.",
    tags={JOB_TAG: "monitoring"},
)
