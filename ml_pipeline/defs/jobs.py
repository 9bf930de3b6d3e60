"""The ingest, training, monitoring and batch scoring jobs.

They run on the definitions' executor: in the run's process by default, on Celery
workers in the scale-out profile (:mod:`ml_pipeline.defs.cluster`).
"""

import dagster as dg

from ml_pipeline.core import names
from ml_pipeline.core.names import JOB_TAG
from ml_pipeline.defs.retries import STEP_RETRY_POLICY

INGEST_JOB = "ingest_job"
TRAINING_JOB = "training_job"
MONITORING_JOB = "monitoring_job"
SCORING_JOB = "scoring_job"

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.assets(*names.INGEST_ASSETS),
    description="Read, clean and featurize one landed file.",
    tags={JOB_TAG: "ingest"},
    op_retry_policy=STEP_RETRY_POLICY,
)

training_job = dg.define_asset_job(
    TRAINING_JOB,
    selection=dg.AssetSelection.assets(*names.MODEL_ASSETS),
    description=(
        "Train a challenger on all ingested partitions, validate it, deploy the winner, "
        "and profile the cleaned history (last, so that it never delays a champion)."
    ),
    tags={JOB_TAG: "training"},
    op_retry_policy=STEP_RETRY_POLICY,
)

monitoring_job = dg.define_asset_job(
    MONITORING_JOB,
    selection=dg.AssetSelection.assets(names.PREDICTION_MONITORING),
    description="Summarise the scoring service's prediction log: volume and input drift.",
    tags={JOB_TAG: "monitoring"},
    op_retry_policy=STEP_RETRY_POLICY,
)

scoring_job = dg.define_asset_job(
    SCORING_JOB,
    selection=dg.AssetSelection.assets(names.BATCH_PREDICTIONS),
    description="Score one file of the scoring folder with the champion (or a chosen version).",
    tags={JOB_TAG: "scoring"},
    op_retry_policy=STEP_RETRY_POLICY,
)
