"""The typed, validated pipeline configuration read from ``pipeline.yaml``.

Every default lives here. Relative paths are resolved against the folder of the
config file, so a config works from any working directory.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ml_pipeline import locations

if TYPE_CHECKING:
    from ml_pipeline.locations import StoragePath

CONFIG_ENV_VAR = "ML_PIPELINE_CONFIG"
DEFAULT_CONFIG_NAME = "pipeline.yaml"

EstimatorName = Literal["linear", "random_forest", "hist_gradient_boosting"]
ColumnKind = Literal["numeric", "categorical", "datetime"]
ColumnRole = Literal["feature", "id", "drop", "timestamp", "target"]


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One column of the schema contract as config declares it (``dataset.columns``)."""

    type: ColumnKind
    role: ColumnRole | None = None
    # Default: features, the timestamp and the target are required; ids and drops are not.
    required: bool | None = None


def _merge_column_roles(raw: dict) -> dict:
    """Fold ``role`` entries of ``columns`` into target, timestamp, id and drop columns.

    Either way of naming a role works; a contradiction between the two is an error.
    """
    columns = raw.get("columns") or {}
    if not isinstance(columns, dict):
        return raw
    merged = dict(raw)
    for name, spec in columns.items():
        role = spec.get("role") if isinstance(spec, dict) else None
        if role in ("id", "drop"):
            key = f"{role}_columns"
            listed = list(merged.get(key) or [])
            merged[key] = listed if name in listed else [*listed, name]
        elif role in ("timestamp", "target"):
            key = "timestamp_column" if role == "timestamp" else "target"
            if merged.get(key) not in (None, name):
                raise ValueError(f"columns.{name}.role is {role!r} but {key} is {merged[key]!r}")
            merged[key] = name
    return merged


class DatasetConfig(_Strict):
    landing_dir: Path
    file_pattern: str | list[str] = "*.csv"
    target: str = Field(min_length=1)
    task: Literal["regression", "classification"]
    timestamp_column: str | None = None
    id_columns: list[str] = []
    drop_columns: list[str] = []
    column_types: dict[str, ColumnKind] = {}
    # The schema contract, when you want to declare it; else it is inferred from the
    # first ingested file. A bare kind is short for {type: kind}.
    columns: dict[str, ColumnSpec] = {}
    # Without declared columns, a column's kind is decided once this many of its values
    # have landed, across however many files; until then it is undecided.
    kind_evidence_rows: int = Field(default=100, ge=1)
    max_file_mb: float = Field(default=512.0, gt=0)
    encoding: str = "utf-8"
    # A classification target with more distinct values than this is refused before
    # training: it is almost always a regression target, or the wrong column.
    max_classes: int = Field(default=100, ge=2)

    @model_validator(mode="before")
    @classmethod
    def _expand_columns(cls, raw: object) -> object:
        if not isinstance(raw, dict):
            return raw
        columns = raw.get("columns")
        if isinstance(columns, dict):
            raw = {
                **raw,
                "columns": {
                    name: {"type": spec} if isinstance(spec, str) else spec
                    for name, spec in columns.items()
                },
            }
        return _merge_column_roles(raw)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r} (e.g. utf-8, latin-1)") from None
        return value

    @property
    def ignored_columns(self) -> list[str]:
        """Identifiers and leakage columns: accepted as input, never learned from."""
        return [*self.id_columns, *self.drop_columns]

    @property
    def patterns(self) -> list[str]:
        return [self.file_pattern] if isinstance(self.file_pattern, str) else self.file_pattern

    @field_validator("file_pattern")
    @classmethod
    def _supported_formats(cls, value: str | list[str]) -> str | list[str]:
        patterns = [value] if isinstance(value, str) else value
        if not patterns:
            raise ValueError("needs at least one pattern")
        for pattern in patterns:
            if not pattern.lower().endswith((".csv", ".parquet", ".csv.gz")):
                raise ValueError(f"{pattern!r} must end in .csv, .csv.gz or .parquet")
            if "/" in pattern or "\\" in pattern:
                raise ValueError(f"{pattern!r} must be a file name pattern, not a path")
        return value

    @model_validator(mode="after")
    def _target_not_reused(self) -> DatasetConfig:
        for key in ("id_columns", "drop_columns"):
            if self.target in getattr(self, key):
                raise ValueError(f"{key} must not contain the target {self.target!r}")
        if self.timestamp_column == self.target:
            raise ValueError("timestamp_column must not be the target")
        for name, spec in self.columns.items():
            if spec.role == "feature" and name in {
                self.target,
                self.timestamp_column,
                *self.ignored_columns,
            }:
                raise ValueError(f"columns.{name}.role is 'feature' but {name!r} has another role")
        if self.columns and self.target not in self.columns:
            raise ValueError(f"columns must list the target {self.target!r} with its type")
        return self

    def role_of(self, column: str) -> str:
        if column == self.target:
            return "target"
        if column == self.timestamp_column:
            return "timestamp"
        if column in self.id_columns:
            return "id"
        if column in self.drop_columns:
            return "drop"
        return "feature"


class StorageConfig(_Strict):
    """``data_dir`` holds the embedded stores, the contract and the quarantine.

    ``shared`` moves the bulk (warehouse tables, deploy exports, the prediction log and
    the step outputs that pass between workers) to a folder every machine mounts or to
    an fsspec URL such as ``s3://bucket/prefix``; ``options`` are that filesystem's
    (``endpoint_url``, ``client_kwargs``...). Credentials come from the environment.
    """

    data_dir: Path = Path("data")
    shared: str | None = Field(default=None, min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("shared")
    @classmethod
    def _known_protocol(cls, value: str | None) -> str | None:
        if value is not None and locations.is_url(value):
            locations.check_protocol(value)
        return value

    @field_validator("options")
    @classmethod
    def _no_credentials(cls, value: dict[str, Any]) -> dict[str, Any]:
        secrets = sorted(locations.SECRET_OPTIONS & set(value))
        if secrets:
            raise ValueError(
                f"{', '.join(secrets)}: credentials belong in the environment (for S3, "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), not in the config, which "
                "every run records"
            )
        return value

    @model_validator(mode="after")
    def _options_need_a_url(self) -> StorageConfig:
        if self.options and not (self.shared and locations.is_url(self.shared)):
            raise ValueError("options apply to a storage URL: set shared to one (s3://...)")
        return self


# ``${NAME}``: a setting read from the environment variable NAME where it is used, so a
# password never sits in this file or in any file written from it.
ENV_REFERENCE = r"\$\{[A-Za-z_][A-Za-z0-9_]*\}"


def env_reference(value: str) -> str | None:
    """NAME when ``value`` is exactly ``${NAME}``."""
    return value[2:-1] if re.fullmatch(ENV_REFERENCE, value) else None


def resolve_env_reference(value: str, field: str) -> str:
    """``value``, or the environment variable it references; a variable that is not set
    is an error naming the field and the variable."""
    name = env_reference(value)
    if name is None:
        return value
    resolved = os.environ.get(name)
    if not resolved:
        raise ValueError(f"{field} is ${{{name}}}, and {name} is not set in the environment")
    return resolved


class CeleryConfig(_Strict):
    """dagster-celery's executor: every step is a Celery task that any ``ml-pipeline
    worker`` (on any machine reaching the broker) may take. Either URL may be
    ``${NAME}``: read from that environment variable by each process that needs it,
    and written to no file."""

    broker: str = Field(
        min_length=1, pattern=rf"^((amqp|pyamqp|redis|rediss)://.*|{ENV_REFERENCE})$"
    )
    backend: str = Field(default="rpc://", min_length=1)


class InstanceConfig(_Strict):
    """Where Dagster keeps runs and events, and what executes the steps of launched runs.

    The defaults are embedded: sqlite under the data folder, steps in the run's process.
    A team sets ``postgres_url`` (the password from ``PGPASSWORD`` or ``~/.pgpass``, never
    here) and ``executor: celery`` with a broker.
    """

    postgres_url: str | None = Field(default=None, pattern=r"^postgres(ql)?(\+psycopg2)?://")
    max_concurrent_runs: int = Field(default=2, ge=1)
    # A launched run whose process died (ended by run monitoring) is launched again this
    # many times; a run that failed in a step is not (its steps retried outages already).
    run_retries: int = Field(default=2, ge=0)
    executor: Literal["in_process", "celery"] = "in_process"
    celery: CeleryConfig | None = None

    @model_validator(mode="after")
    def _celery_has_a_broker(self) -> InstanceConfig:
        if self.executor == "celery" and self.celery is None:
            raise ValueError("executor 'celery' needs celery.broker (amqp://... or redis://...)")
        if self.executor == "celery" and self.postgres_url is None:
            raise ValueError(
                "executor 'celery' needs postgres_url: workers on other machines cannot "
                "share a sqlite instance"
            )
        return self


# Where `ml-pipeline mlflow-ui` serves the MLflow UI unless told otherwise.
MLFLOW_UI_HOST = "127.0.0.1"
MLFLOW_UI_PORT = 5000


class MlflowConfig(_Strict):
    tracking_uri: str | None = None
    experiment: str = Field(default="ml_pipeline", min_length=1)
    registered_model: str = Field(default="ml_pipeline_model", pattern=r"^[A-Za-z0-9_.-]+$")
    # Where people open the MLflow UI: Dagster's metadata links runs and versions there.
    # Unset, a tracking server's own address is used, and for a store that is no server
    # (the embedded sqlite, a database) the address `ml-pipeline mlflow-ui` serves it at.
    ui_url: str | None = Field(default=None, pattern=r"^https?://")


class OutlierConfig(_Strict):
    method: Literal["iqr", "zscore", "isolation_forest", "bounds", "none"] = "iqr"
    # What becomes of a statistical outlier. "flag": counted, with examples, and kept as
    # it landed: the model meets the same values when it scores. Values outside
    # declared ``bounds`` are certainly wrong and set missing under "flag".
    treatment: Literal["flag", "clip", "null", "drop"] = "flag"
    iqr_k: float = Field(default=3.0, gt=0)
    zscore_threshold: float = Field(default=5.0, gt=0)
    contamination: float = Field(default=0.01, gt=0, le=0.5)
    bounds: dict[str, tuple[float, float]] = {}

    @field_validator("bounds")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for column, (low, high) in value.items():
            if low >= high:
                raise ValueError(f"bounds for {column!r}: low {low} must be below high {high}")
        return value


class CleaningConfig(_Strict):
    # "model": gaps stay gaps, filled by the exported model's imputer with statistics of
    # the training rows, so scoring treats a missing value exactly as training did.
    # "indicator": the same, and the imputer adds a was-missing column per feature.
    # "impute" fills each batch with its own median or mode at ingest (outside the
    # model); "drop" removes rows with any gap.
    missing: Literal["model", "indicator", "impute", "drop"] = "model"
    outliers: OutlierConfig = OutlierConfig()
    numeric_parse_threshold: float = Field(default=0.9, gt=0, le=1)


class HoldoutConfig(_Strict):
    fraction: float = Field(default=0.2, gt=0, lt=1)
    max_rows: int = Field(default=50_000, ge=10)


class CandidateConfig(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    estimator: EstimatorName
    params: dict[str, object] = {}
    search: dict[str, list[object]] = {}

    @field_validator("search")
    @classmethod
    def _non_empty(cls, value: dict[str, list[object]]) -> dict[str, list[object]]:
        for key, options in value.items():
            if not options:
                raise ValueError(f"search option {key!r} needs at least one value")
        return value


# Boosting stops once 20 rounds in a row fail to improve a held-back tenth of the
# sample, and at 300 rounds at most: on large samples the loss keeps creeping down, and
# a cap of 1,000 at learning rate 0.05 made one fit on 200,000 rows take five minutes
# (docs/benchmarks.md, "Model quality"). The search tunes what early stopping cannot.
BOOSTING_PARAMS = {"max_iter": 300, "early_stopping": True, "n_iter_no_change": 20}
BOOSTING_SEARCH = {
    "learning_rate": [0.1, 0.2],
    "max_leaf_nodes": [15, 31],
    "min_samples_leaf": [5, 20],
}


def _default_candidates() -> list[CandidateConfig]:
    return [
        # Whether clipping the extremes helps the linear model is the search's to judge.
        CandidateConfig(
            name="linear",
            estimator="linear",
            search={"alpha": [0.1, 1.0, 10.0], "clip_outliers": [False, True]},
        ),
        CandidateConfig(
            name="random_forest",
            estimator="random_forest",
            # Trees on bootstrap halves: half the time and memory, as accurate on large samples.
            params={"n_estimators": 100, "max_samples": 0.5},
            search={"max_depth": [8, 16, None], "min_samples_leaf": [1, 5]},
        ),
        CandidateConfig(
            name="hist_gradient_boosting",
            estimator="hist_gradient_boosting",
            params=BOOSTING_PARAMS,
            search=BOOSTING_SEARCH,
        ),
    ]


class TrainingConfig(_Strict):
    sample_rows: int = Field(default=200_000, ge=100)
    random_seed: int = 42
    cv_folds: int = Field(default=3, ge=2, le=20)
    search_iterations: int = Field(default=4, ge=1)
    n_jobs: int = Field(default=2, ge=1)
    # A Dask scheduler (tcp://host:8786): the search's cross-validation fits then run on
    # its workers, as many at once as they have threads, instead of n_jobs local
    # processes. Its workers need this package installed.
    dask_scheduler: str | None = Field(default=None, pattern=r"^(tcp|tls|ucx|inproc)://")
    # Once the gate promotes, the chosen configuration is fitted again on a sample of all
    # landed rows (the holdout included) and that refit is deployed.
    refit_on_all_data: bool = True
    # Wall time for the whole search, shared evenly by the candidates (a candidate that
    # finishes early leaves its rest to the next); null searches every planned setting.
    time_budget_minutes: float | None = Field(default=None, gt=0)
    # Classification: add class_weight "balanced" as a search option of every candidate
    # that does not set class_weight itself.
    try_balanced_class_weights: bool = True
    # Fit a default HistGradientBoosting on the training sample, scored beside the
    # challenger, so the search shows whether it earned its time (not when it was reused).
    reference_model: bool = True
    # A retraining that only new partitions triggered refits the choice of the last
    # search if it is at most this many hours old (and saw at least half as many rows);
    # scheduled, manual, backfill, drift and age retrainings search again. null: every
    # retraining searches. A day matches the default daily retrain schedule.
    reuse_search_hours: float | None = Field(default=24, gt=0)
    candidates: Annotated[list[CandidateConfig], Field(min_length=1)] = _default_candidates()

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[CandidateConfig]) -> list[CandidateConfig]:
        names = [candidate.name for candidate in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"candidate names must be unique, repeated: {duplicates}")
        return value


RegressionMetric = Literal["rmse", "mae", "r2"]
ClassificationMetric = Literal["accuracy", "f1_macro", "roc_auc", "log_loss"]


class PromotionConfig(_Strict):
    metric: RegressionMetric | ClassificationMetric | None = None
    min_improvement: float = Field(default=0.0, ge=0)
    thresholds: dict[RegressionMetric | ClassificationMetric, float] = {}
    # A challenger must beat the trivial baseline by this share of the baseline's score.
    min_gain_over_baseline: float = Field(default=0.05, ge=0)
    # Replacing a champion is decided on rows neither model trained on; fewer than this
    # and the champion is kept.
    min_compare_rows: int = Field(default=200, ge=1)
    # A gain must hold in this share of bootstrap resamples of the same rows (0 turns the
    # test off): a one-row gain on a small holdout is noise, not a better model.
    confidence: float = Field(default=0.95, ge=0, lt=1)
    bootstrap_rounds: int = Field(default=1000, ge=100)
    # manual: a challenger that passes the gate waits, registered under the alias
    # `candidate`, until `ml-pipeline approve VERSION` (or `reject`) decides.
    approval: Literal["automatic", "manual"] = "automatic"
    # With manual approval, `approve` refuses a candidate the service has shadow-scored
    # on fewer rows than this (0: approval never waits for shadow rows).
    min_shadow_rows: int = Field(default=0, ge=0)


class ScheduleConfig(_Strict):
    retrain_cron: str = "0 3 * * *"
    timezone: str = "UTC"

    @field_validator("retrain_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        return _five_field_cron(value)


def _five_field_cron(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError(f"{value!r} is not a 5-field cron expression")
    return value


QualityTable = Literal["raw_samples", "cleaned_data", "features"]


class ExpectationConfig(_Strict):
    """A Great Expectations expectation by snake_case name, e.g. expect_column_to_exist."""

    table: QualityTable
    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, object] = {}
    blocking: bool = True


class QualityConfig(_Strict):
    expectations: list[ExpectationConfig] = []
    # Learned ranges are the training reference's 0.1%-99.9% span widened by this share of it.
    learned_range_margin: float = Field(default=0.25, ge=0)
    # Share of values a learned-range or category expectation must meet before it warns.
    learned_mostly: float = Field(default=0.99, gt=0, le=1)


class ProfileConfig(_Strict):
    sample_rows: int = Field(default=20_000, ge=100)
    max_plotted_columns: int = Field(default=12, ge=1)


class RetrainingConfig(_Strict):
    """Retrain when any rule holds; null turns the drift or age rule off."""

    min_new_partitions: int = Field(default=1, ge=1)
    drift_threshold: float | None = Field(default=0.25, gt=0)
    max_model_age_hours: float | None = Field(default=168.0, gt=0)
    # Decay: the champion's metric on the latest decay_window partitions it scored before
    # any training read them is worse than its holdout score by more than this share,
    # beyond the bootstrap noise of those rows (promotion.confidence). At least
    # decay_min_rows rows must be in the window for a verdict.
    decay_margin: float | None = Field(default=0.1, gt=0)
    decay_window: int = Field(default=5, ge=1)
    decay_min_rows: int = Field(default=100, ge=1)


class IngestConfig(_Strict):
    """How `ml-pipeline run` ingests many landed files at once."""

    # At most this many Dagster runs in parallel processes, one per core by default; each
    # run is still one partition with its own checks and failure. A worker is started only
    # for enough files to repay its start-up (imports), so a few small files run one by
    # one in the command's own process.
    workers: int = Field(default=2, ge=1)


class SensorConfig(_Strict):
    interval_seconds: int = Field(default=10, ge=1)
    settle_seconds: float = Field(default=2.0, ge=0)
    # How often the daemon looks for finished ingest runs; each look is one indexed query.
    wave_end_interval_seconds: int = Field(default=5, ge=1)
    # A file whose ingest failed for an outage (storage, MLflow, the database, the broker)
    # is tried again this many times, after 1, 2, 4, ... times retry_after_seconds.
    ingest_retries: int = Field(default=6, ge=0)
    retry_after_seconds: float = Field(default=60.0, ge=0)


class ServingConfig(_Strict):
    """The scoring web service (``ml-pipeline serve``)."""

    # Loopback by default: exposing the service is a deliberate choice.
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_mb: float = Field(default=8.0, gt=0)
    max_rows: int = Field(default=10_000, ge=1)
    # Rows coalesced from concurrent requests into one predict call, and how long
    # the batcher lingers for more under concurrent load (0 turns lingering off).
    max_batch_rows: int = Field(default=4096, ge=1)
    batch_wait_ms: float = Field(default=3.0, ge=0, le=1000)
    # How often the deploy folder is checked for a new champion.
    poll_seconds: float = Field(default=1.0, gt=0)
    # Share of scored requests whose inputs and outputs go into the prediction log.
    log_sample_fraction: float = Field(default=1.0, ge=0, le=1)
    log_max_rows: int = Field(default=10, ge=0)
    log_flush_seconds: float = Field(default=2.0, gt=0)
    # At most one sampled request per this many seconds also keeps, for the skew check,
    # its rows as sent and the features the service computed for them.
    skew_sample_seconds: float = Field(default=1.0, ge=0)
    # Score with the preprocessing compiled to NumPy where it reproduces the fitted step
    # (cheaper predict calls, docs/benchmarks.md); false serves the pipeline as it is.
    compiled_scoring: bool = True
    # Also score every request with the latest challenger, off the hot path; a candidate
    # awaiting approval is shadowed whatever this says.
    shadow: bool = False
    # Requests waiting for the shadow scorer; beyond this they are dropped and counted.
    shadow_queue_requests: int = Field(default=1000, ge=1)


NotifyEvent = Literal[
    "promoted",
    "kept",
    "awaiting_approval",
    "training_failed",
    "file_quarantined",
    "file_given_up",
    "drift",
    "decay",
    "skew",
    "orphan_ended",
]
# Every event but the routine keep.
DEFAULT_NOTIFY_EVENTS: list[NotifyEvent] = [e for e in get_args(NotifyEvent) if e != "kept"]


class WebhookConfig(_Strict):
    """One webhook and the events it receives. ``${NAME}`` in the URL is read from the
    environment when a notice is sent, so a token in it never sits in this file."""

    url: str = Field(min_length=1)
    events: list[NotifyEvent] = Field(default_factory=lambda: list(DEFAULT_NOTIFY_EVENTS))
    # json: one generic object; slack: Slack's incoming-webhook shape ({"text": ...}).
    format: Literal["json", "slack"] = "json"
    timeout_seconds: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=4, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _http_without_inline_secrets(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "${")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        authority = value.split("://", 1)[-1].split("/", 1)[0]
        if "@" in authority and "${" not in authority:
            raise ValueError(
                "the URL holds credentials: put them in an environment variable and write "
                "${NAME} in their place"
            )
        return value


class DeployConfig(_Strict):
    """What a promotion publishes besides the MLflow model directory.

    ``onnx`` also exports ``model.onnx`` for edge devices (``pip install -e '.[edge]'``).
    Every candidate is then fitted in the form ONNX reproduces exactly, so the champion
    is the model shipped; it is published only when it scores every holdout row, and
    rows built to be hard, like the scikit-learn model: a prediction within
    ``onnx_tolerance`` times max(1, |prediction|), every class probability within
    ``onnx_tolerance`` and the same label.
    """

    onnx: bool = False
    onnx_tolerance: float = Field(default=1e-3, gt=0)


class BatchScoringConfig(_Strict):
    """Files scored in bulk by ``batch_predictions``: one partition per file in ``folder``.

    The files are shaped like landed ones (the dataset's patterns, encoding and size
    limit) and need no target column. The folder is relative to the config file; by
    default ``scoring`` under the data folder.
    """

    folder: Path | None = None
    # Rows predicted at once: bounds the memory of scoring a large file.
    chunk_rows: int = Field(default=100_000, ge=1)


class MonitoringConfig(_Strict):
    """The ``prediction_monitoring`` asset over the scoring service's prediction log."""

    window_hours: float = Field(default=24.0, gt=0)
    cron: str = "10 * * * *"
    # Drift is measured on at most this many of the latest logged input rows.
    drift_sample_rows: int = Field(default=50_000, ge=100)
    # Late labels: files of ids and target values, joined to the predictions the service
    # logged over the last labels_lookback_days. The folder is relative to the config
    # file; by default ``labels`` under the data folder.
    labels_folder: Path | None = None
    labels_lookback_days: float = Field(default=14.0, gt=0)
    # A shadow and the champion agree on a regression row when their predictions are
    # within this share of the larger one.
    shadow_agreement_tolerance: float = Field(default=0.05, ge=0)
    # Served rows per run whose features the service and training are compared on.
    skew_sample_rows: int = Field(default=1000, ge=1)

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        return _five_field_cron(value)


@dataclass(frozen=True)
class ModelingConfig:
    """The sections the model stage reads: the dataset, how it was cleaned, and the
    holdout, training and promotion policy. Never storage, MLflow, serving or deployment,
    so ``core/model`` cannot come to depend on where things live."""

    dataset: DatasetConfig
    cleaning: CleaningConfig
    holdout: HoldoutConfig
    training: TrainingConfig
    promotion: PromotionConfig
    contract_path: Path
    # deploy.onnx: every candidate in its edge-exact form, checked before it may win.
    edge_exact: bool = False
    edge_tolerance: float = 1e-3

    @property
    def metric(self) -> str:
        """The promotion metric: the configured one, or the task's default."""
        if self.promotion.metric:
            return self.promotion.metric
        return "rmse" if self.dataset.task == "regression" else "f1_macro"


class PipelineConfig(_Strict):
    dataset: DatasetConfig
    storage: StorageConfig = StorageConfig()
    mlflow: MlflowConfig = MlflowConfig()
    dagster: InstanceConfig = InstanceConfig()
    cleaning: CleaningConfig = CleaningConfig()
    holdout: HoldoutConfig = HoldoutConfig()
    training: TrainingConfig = TrainingConfig()
    promotion: PromotionConfig = PromotionConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    retraining: RetrainingConfig = RetrainingConfig()
    quality: QualityConfig = QualityConfig()
    profile: ProfileConfig = ProfileConfig()
    ingest: IngestConfig = IngestConfig()
    sensor: SensorConfig = SensorConfig()
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    batch_scoring: BatchScoringConfig = BatchScoringConfig()
    deploy: DeployConfig = DeployConfig()
    notify: list[WebhookConfig] = []
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _metric_fits_task(self) -> PipelineConfig:
        regression = set(RegressionMetric.__args__)
        fits = (
            (lambda m: m in regression)
            if self.dataset.task == "regression"
            else (lambda m: m not in regression)
        )
        used = [self.promotion.metric] if self.promotion.metric else []
        for metric in [*used, *self.promotion.thresholds]:
            if not fits(metric):
                raise ValueError(
                    f"promotion metric {metric!r} does not apply to task {self.dataset.task!r}"
                )
        return self

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def shared_root(self) -> StoragePath:
        """The warehouse, deploy folder and prediction log live under it: ``shared`` or
        the data folder."""
        if self.storage.shared is None:
            return self.data_dir
        return locations.location(self.storage.shared, self.storage.options)

    @property
    def warehouse_dir(self) -> StoragePath:
        return self.shared_root / "warehouse"

    @property
    def deploy_dir(self) -> StoragePath:
        return self.shared_root / "deploy"

    @property
    def step_outputs_dir(self) -> StoragePath | None:
        """Where steps hand values to each other when storage is shared; None keeps
        Dagster's default (the instance's folder)."""
        return None if self.storage.shared is None else self.shared_root / "step_outputs"

    @property
    def model_cache_dir(self) -> Path:
        """The scoring service's local copies of versions exported to a storage URL."""
        return self.data_dir / "serving" / "models"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def predictions_dir(self) -> StoragePath:
        """The scoring service's prediction log, read by ``prediction_monitoring``."""
        return self.shared_root / "predictions"

    @property
    def scoring_dir(self) -> Path:
        """Where files to score land; each becomes a ``batch_predictions`` partition."""
        return self.batch_scoring.folder or self.data_dir / "scoring"

    @property
    def labels_dir(self) -> Path:
        """Where late labels for served predictions land (``ml-pipeline labels FILE``)."""
        return self.monitoring.labels_folder or self.data_dir / "labels"

    @property
    def deliveries_path(self) -> Path:
        """Every notification delivery attempt, one JSON line each."""
        return self.data_dir / "notifications" / "deliveries.jsonl"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def contract_path(self) -> Path:
        """The schema contract every landed file is checked against; beside the tables
        unless those are on shared storage (it stays with the landing-side state)."""
        return self.data_dir / "warehouse" / "contract.json"

    @property
    def forgotten_path(self) -> Path:
        """Landed files left where they are but never ingested again (``ml-pipeline forget``)."""
        return self.quarantine_dir / "forgotten.json"

    @property
    def reference_path(self) -> Path:
        """The champion's training reference: schema, ranges and distributions."""
        return self.data_dir / "reference" / "profile.json"

    @property
    def mlflow_tracking_uri(self) -> str:
        """Config wins, then MLFLOW_TRACKING_URI, then sqlite under the data folder."""
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        from_env = os.environ.get("MLFLOW_TRACKING_URI")
        if from_env:
            return from_env
        return f"sqlite:///{(self.data_dir / 'mlflow' / 'mlflow.db').as_posix()}"

    @property
    def mlflow_ui_url(self) -> str | None:
        if self.mlflow.ui_url:
            return self.mlflow.ui_url.rstrip("/")
        uri = self.mlflow_tracking_uri
        if uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
        return f"http://{MLFLOW_UI_HOST}:{MLFLOW_UI_PORT}"

    @property
    def mlflow_artifact_root(self) -> Path | None:
        """Where new experiments keep artifacts: under the data folder for an embedded
        store; a tracking server decides for itself (``--artifacts-destination``)."""
        if self.mlflow_tracking_uri.startswith(("http://", "https://")):
            return None
        return self.data_dir / "mlflow" / "artifacts"

    @property
    def modeling(self) -> ModelingConfig:
        return ModelingConfig(
            self.dataset,
            self.cleaning,
            self.holdout,
            self.training,
            self.promotion,
            self.contract_path,
            edge_exact=self.deploy.onnx,
            edge_tolerance=self.deploy.onnx_tolerance,
        )

    @property
    def promotion_metric(self) -> str:
        return self.modeling.metric


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` beats ``ML_PIPELINE_CONFIG``, which beats ``./pipeline.yaml``."""
    chosen = explicit or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_NAME
    return Path(chosen).expanduser().resolve()


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{path}: {key}: {message}")
    return "\n".join(lines)


def parse_config(raw: object, source_path: Path) -> PipelineConfig:
    """Validate a parsed YAML document and resolve its paths against the file's folder."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source_path}: the file must hold a mapping with a 'dataset' section")
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(source_path, error)) from None
    base = source_path.parent

    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else (base / path).resolve()

    return config.model_copy(
        update={
            "source_path": source_path,
            "dataset": config.dataset.model_copy(
                update={"landing_dir": absolute(config.dataset.landing_dir)}
            ),
            "storage": config.storage.model_copy(
                update={
                    "data_dir": absolute(config.storage.data_dir),
                    "shared": config.storage.shared
                    if config.storage.shared is None or locations.is_url(config.storage.shared)
                    else str(absolute(Path(config.storage.shared.removeprefix("file://")))),
                }
            ),
            "batch_scoring": config.batch_scoring.model_copy(
                update={
                    "folder": absolute(config.batch_scoring.folder)
                    if config.batch_scoring.folder
                    else None
                }
            ),
            "monitoring": config.monitoring.model_copy(
                update={
                    "labels_folder": absolute(config.monitoring.labels_folder)
                    if config.monitoring.labels_folder
                    else None
                }
            ),
        }
    )


def load_config(path: str | os.PathLike[str] | None = None) -> PipelineConfig:
    source = resolve_config_path(path)
    if not source.is_file():
        raise ConfigError(
            f"{source}: config file not found (pass --config PATH or set {CONFIG_ENV_VAR})"
        )
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}:{where} is not valid YAML: {error}") from None
    return parse_config(raw, source)
