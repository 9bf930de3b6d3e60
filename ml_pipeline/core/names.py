"""Names that more than one part of the package must spell the same way.

Assets write metadata that sensors and the CLI read back, jobs and backfills select
assets by key, and runs carry tags that assets read: each of those names is defined
here once. A test checks every asset name against the definitions, and that what the
ingest assets record is what the readers find.
"""

# Asset keys. The ingest assets are also the warehouse's table names.
RAW_SAMPLES = "raw_samples"
CLEANED_DATA = "cleaned_data"
FEATURES = "features"
# Each landed partition scored by the champion of the moment (also its warehouse table);
# in the ingest job, so a partition is measured before any training reads it.
CHAMPION_PERFORMANCE = "champion_performance"
INGEST_ASSETS = (RAW_SAMPLES, CLEANED_DATA, FEATURES, CHAMPION_PERFORMANCE)
# Warehouse table of feature partitions a failed fit was blamed on (core.model.blame).
FIT_FAULTS = "fit_faults"
DATA_PROFILE = "data_profile"
TRAINED_MODEL = "trained_model"
VALIDATION_METRICS = "validation_metrics"
DEPLOYED_MODEL = "deployed_model"
MODEL_ASSETS = (DATA_PROFILE, TRAINED_MODEL, VALIDATION_METRICS, DEPLOYED_MODEL)
PREDICTION_MONITORING = "prediction_monitoring"
BATCH_PREDICTIONS = "batch_predictions"  # also its warehouse table

# Materialization metadata read back by other code.
SOURCE_DIGEST = "source_digest"  # raw_samples: the landed file's content digest
DRIFT_SCORE = "drift_score"  # cleaned_data: overall PSI against the champion's reference
# champion_performance: the version that scored the partition, and by how much (a share)
# the champion's metric on its latest partitions is worse than at validation, when that
# is beyond the margin and the noise (absent otherwise).
SCORED_BY = "model_version"
DECAY = "decay"
# prediction_monitoring: the features that differ between serving and training, if any.
SKEWED_FEATURES = "skewed_features"
IGNORED_COLUMNS = "ignored_columns"  # raw_samples: landed columns the contract lacks
INTAKE_WARNINGS = "intake_warnings"  # raw_samples: what reading the file found (JSON list)
CLEANING_NOTES = "cleaning_notes"  # cleaned_data: cells cleaning changed, one line each
# On an ingest step's failure: where its landed file was quarantined.
QUARANTINED_TO = "quarantined_to"
BLOCKED_BY = "blocked_by"  # a failed expectations check: its blocking failures, one line

# The dynamic partitions: one per landed file, and one per file to score.
LANDED_FILES = "landed_files"
SCORING_FILES = "scoring_files"

# Run tags.
TRIGGER_TAG = "ml_pipeline/trigger"
TRIGGER_LANDED_FILE = "landed_file"
TRIGGER_CLI = "cli"
TRIGGER_BACKFILL = "backfill"
TRIGGER_SCHEDULE = "schedule"
TRIGGER_SCORING_FILE = "scoring_file"
# Who started a run from the command line (user@host); copied to its MLflow run.
STARTED_BY_TAG = "ml_pipeline/started_by"
# On a run that failed because storage, MLflow, the database or the broker was away:
# "true", with the outage in one line beside it; the landing sensor tries its file again.
OUTAGE_TAG = "ml_pipeline/outage"
OUTAGE_REASON_TAG = "ml_pipeline/outage_reason"
# On a run that tries a file again after an outage: which try, and why.
RETRY_TAG = "ml_pipeline/retry"
# A retraining sensor's trigger joins its reasons ("name:value") with commas; this one
# names the new partitions of a finished wave.
NEW_PARTITIONS_REASON = "new_partitions"
# ... and this one the champion's measured decay on new partitions.
DECAY_REASON = "decay"
# The registered model version batch_predictions scores with; the champion without it.
MODEL_VERSION_TAG = "ml_pipeline/model_version"

# Run tags Dagster sets, read by the package.
PARTITION_TAG = "dagster/partition"
# A materialization's data version: deployed_model's is the serving champion, "v3".
DATA_VERSION_TAG = "dagster/data_version"
RUN_KEY_TAG = "dagster/run_key"
# Run tags the package sets on every run: its job, the config it ran with, and the
# process that owns it (so a run whose process died is told from one still running) in
# one tag, ``pid@host/start``: bookkeeping, so it costs the run list one tag, not three.
JOB_TAG = "ml_pipeline/job"
CONFIG_DIGEST_TAG = "ml_pipeline/config_digest"
OWNER_TAG = "ml_pipeline/owner"

# MLflow tags on training runs.
CODE_VERSION_TAG = "ml_pipeline.code_version"
MLFLOW_TRIGGER_TAG = "ml_pipeline.trigger"
DAGSTER_RUN_TAG = "dagster.run_id"
MLFLOW_STARTED_BY_TAG = "ml_pipeline.started_by"
DATA_FINGERPRINT_TAG = "ml_pipeline.data_fingerprint"
PARTITION_COUNT_TAG = "ml_pipeline.partition_count"
PARTITIONS_TAG = "ml_pipeline.partitions"
# A search that ran to the end (its MLflow run finished): what it searched and chose.
SEARCH_KEY_TAG = "ml_pipeline.search_key"
SEARCH_CHOICE_TAG = "ml_pipeline.search_choice"
SEARCH_ROWS_TAG = "ml_pipeline.search_rows"
# A training run that reused a search names the run that searched.
SEARCH_REUSED_TAG = "ml_pipeline.search_reused_from"
# On a candidate's MLflow run that failed: its error, in one line.
CANDIDATE_ERROR_TAG = "ml_pipeline.candidate_error"
# Whether the default HGB took the searched challenger's place.
YARDSTICK_TAG = "ml_pipeline.yardstick"
# The gate's verdict.
PROMOTE_TAG = "ml_pipeline.promote"
DECISION_TAG = "ml_pipeline.decision"
SMOKE_TEST_TAG = "ml_pipeline.smoke_test"

# MLflow tags on registered model versions.
MLFLOW_RUN_ID_TAG = "ml_pipeline.mlflow_run_id"
MODEL_FINGERPRINT_TAG = "ml_pipeline.model_fingerprint"
PREVIOUS_CHAMPION_TAG = "ml_pipeline.previous_champion"
ROLLED_BACK_TAG = "ml_pipeline.rolled_back_at"
# Under promotion.approval: manual, who decided on a candidate, and when ("user@host at
# ISO time"); a candidate not yet decided carries AWAITING_APPROVAL_TAG.
APPROVAL_TAG = "ml_pipeline.approval"  # "manual" on every version registered as candidate
AWAITING_APPROVAL_TAG = "ml_pipeline.awaiting_approval"
APPROVED_TAG = "ml_pipeline.approved"
REJECTED_TAG = "ml_pipeline.rejected"
# Fitted with the holdout withheld: rows after this timestamp judge it.
HOLDOUT_CUTOFF_TAG = "ml_pipeline.holdout_cutoff"
# Fitted on every landed row up to its promotion ("true"), and the newest timestamp
# among them: only rows landed later can judge it.
REFIT_TAG = "ml_pipeline.refit"
TRAINING_CUTOFF_TAG = "ml_pipeline.training_cutoff"
