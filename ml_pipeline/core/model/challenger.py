"""Train a challenger: split, sample, tune every candidate, log to MLflow.

Validation and deployment follow in :mod:`validation` and :mod:`deployment`;
none of them imports Dagster, whose assets call them and attach metadata.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ml_pipeline.config import CandidateConfig, ModelingConfig
from ml_pipeline.core import edge_parity, names, tracking
from ml_pipeline.core.crashpoints import crash_point
from ml_pipeline.core.data.contract import (
    SchemaContract,
    create_contract,
    infer_contract,
    resolve_contract,
)
from ml_pipeline.core.data.feature_table import FEATURE_PREFIX
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.features import finite_or_missing
from ml_pipeline.core.model import blame, evaluation, search_reuse, training, yardstick
from ml_pipeline.core.model.splitting import (
    HoldoutSpec,
    count_holdout_rows,
    holdout_mask,
    plan_holdout,
)
from ml_pipeline.core.monitor.reference import ReferenceProfile, build_reference
from ml_pipeline.core.names import (
    CANDIDATE_ERROR_TAG,
    DATA_FINGERPRINT_TAG,
    PARTITION_COUNT_TAG,
    PARTITIONS_TAG,
    YARDSTICK_TAG,
)
from ml_pipeline.core.outages import one_line, outage

HOLDOUT_TABLE = "holdout"


@dataclass
class TrainingOutcome:
    mlflow_run_id: str
    model_uri: str
    metric: str
    challenger: str
    candidates: list[dict[str, object]]
    partitions: list[str]
    partition_rows: dict[str, int]
    train_rows: int
    holdout_rows: int
    holdout: HoldoutSpec
    holdout_key: str
    data_fingerprint: str
    baseline: object = field(repr=False)
    # The training rows' profile: what drift and the learned expectations compare with.
    drift_profile: ReferenceProfile | None = field(default=None, repr=False)
    seconds: float = 0.0
    # Partitions left out of training because they do not conform to the contract.
    excluded: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # The winning configuration with its tuned parameters, for the refit on all rows.
    chosen: CandidateConfig | None = None
    # A default HistGradientBoosting fitted on the same sample: what the search must beat.
    reference_model: object = field(default=None, repr=False)
    columns: list[str] = field(default_factory=list)
    # How the challenger's configuration was found: searched, or reused from which run.
    search: str = ""
    # Candidates (the reference included) that raised, and their errors: left out.
    failed: dict[str, str] = field(default_factory=dict)
    # The default HGB against the searched challenger on the holdout: who was deployed, why.
    yardstick: str | None = None
    # The inputs' kinds as the training sample read them (the contract's, undecided
    # columns by their leaning): later samples of the same rows read them alike.
    kinds: dict[str, str] | None = None


def code_version() -> str:
    """The git commit of the checkout this code runs from, or ``unknown``."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 else "unknown"


def fingerprint(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _fits_kind(arrow_type: pa.DataType, kind: str) -> bool:
    if pa.types.is_null(arrow_type):
        return True
    if kind == "numeric":
        return (
            pa.types.is_integer(arrow_type)
            or pa.types.is_floating(arrow_type)
            or pa.types.is_boolean(arrow_type)
        )
    if kind == "datetime":
        return pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _readable_input(arrow_type: pa.DataType) -> bool:
    """An input column the sample can read as any kind (see ``features.as_kinds``)."""
    return any(_fits_kind(arrow_type, kind) for kind in ("numeric", "datetime", "categorical"))


def input_kinds(contract: SchemaContract, target: str) -> dict[str, str]:
    return {name: kind for name, kind in contract.kinds().items() if name != target}


def _non_finite_bound(footer: pq.FileMetaData, column: str) -> float | None:
    """An infinite minimum or maximum that the footer's statistics record for
    ``column``, or None (also when a writer kept no statistics)."""
    index = footer.schema.names.index(column)
    for group in range(footer.num_row_groups):
        stats = footer.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            continue
        for bound in (stats.min, stats.max):
            if isinstance(bound, float) and not math.isfinite(bound):
                return bound
    return None


def partition_problem(footer: pq.FileMetaData, contract: SchemaContract, target: str) -> str | None:
    """Why a feature partition cannot join the training data, or None if it conforms.

    Checked on the footer alone: the contract's columns, the target's kind (the task's;
    inputs of another kind are read as the contract's), and a finite target. Columns
    outside the contract are never read, so they do not matter; a column the contract
    made optional may be absent (it is read as empty). Infinite inputs are no reason:
    the sample reads them as missing.
    """
    schema = footer.schema.to_arrow_schema()
    types = dict(zip(schema.names, schema.types, strict=True))
    missing = [c.name for c in contract.columns if c.required and c.name not in types]
    if missing:
        return f"lacks contract columns {', '.join(missing)}"
    for column in contract.columns:
        found = types.get(column.name)
        if found is None:
            continue
        # An input stored as another kind (cleaned before its kind was decided) is read
        # as the contract's kind; a target of the wrong kind has no such reading.
        if column.name != target and _readable_input(found):
            continue
        if not _fits_kind(found, column.leaning() or "categorical"):
            return f"column {column.name!r} is {found}, not {column.kind} as the contract says"
    bound = _non_finite_bound(footer, target) if target in types else None
    if bound is not None:
        return f"target {target!r} holds {bound} (ingested before non-finite values were missing)"
    return None


def training_contract(
    modeling: ModelingConfig, warehouse: Warehouse, partitions: list[str]
) -> SchemaContract:
    """The contract in force; a warehouse ingested before contracts existed gets one
    inferred from its newest feature partition, stored like any other."""
    contract = resolve_contract(modeling.contract_path, modeling.dataset)
    if contract is not None or not partitions:
        return contract
    key = partitions[-1]
    table = warehouse.read(names.FEATURES, key)
    raw = table[[c for c in table.columns if not c.startswith(FEATURE_PREFIX)]]
    threshold = modeling.cleaning.numeric_parse_threshold
    inferred = infer_contract(raw, modeling.dataset, threshold, f"warehouse partition {key}")
    return create_contract(inferred, modeling.contract_path)


@dataclass(frozen=True)
class UsablePartitions:
    keys: list[str]
    # Each left-out partition, and why.
    excluded: dict[str, str]
    # Each usable partition's content digest and rows, read off the footer already open:
    # the training run's MLflow inputs.
    inputs: dict[str, tuple[str, int]]


def usable_partitions(
    warehouse: Warehouse, partitions: list[str], contract: SchemaContract, target: str
) -> UsablePartitions:
    """The partitions training can read, and why each of the others is left out.

    One partition written before the contract, damaged on disk, or blamed for a failed
    fit (:mod:`blame`), must never stop training on the rest.
    """
    found = UsablePartitions([], {}, {})
    faulty = blame.known_faults(warehouse)
    for key in partitions:
        try:
            footer = warehouse.footer(names.FEATURES, key)
            problem = partition_problem(footer, contract, target)
            if problem is None and key in faulty:
                problem = blame.known_fault(warehouse, key, footer)
        except (OSError, pa.ArrowException) as error:
            if outage(error) is not None:
                raise  # storage away: retried, never read as a partition to leave out
            problem = f"unreadable: {str(error).splitlines()[0][:200]}"
        if problem is None:
            found.keys.append(key)
            found.inputs[key] = (blame.content_digest(footer), footer.num_rows)
        else:
            found.excluded[key] = problem
    return found


# Numeric labels beyond this many, or mostly this rare, are a measured quantity, not
# classes; text labels are bounded by dataset.max_classes only.
MAX_NUMERIC_CLASSES = 50
RARE_CLASS_ROWS = 5


def target_problem(y: pd.Series, task: str, max_classes: int) -> tuple[str | None, str | None]:
    """An error if the target cannot be learned as ``task``, else maybe a warning.

    Checked on the training sample before any fitting: a regression target run as
    classification would otherwise tune for minutes and then fail on hundreds of labels.
    """
    name, distinct = y.name, y.nunique()
    if task == "classification":
        numeric = pd.api.types.is_numeric_dtype(y)
        if numeric and not (y == y.round()).all():
            example = y[y != y.round()].iloc[0]
            return (
                f"target {name!r} holds fractional values (e.g. {example}): a classification "
                "target needs labels; is dataset.task meant to be regression?",
                None,
            )
        if distinct > max_classes:
            return (
                f"target {name!r} has {distinct} distinct values, more than dataset.max_classes "
                f"({max_classes}): is dataset.task meant to be regression? (or raise max_classes)",
                None,
            )
        counts = y.value_counts()
        rare = int((counts < RARE_CLASS_ROWS).sum())
        if numeric and (
            distinct > MAX_NUMERIC_CLASSES or (distinct >= 20 and rare * 2 >= distinct)
        ):
            return (
                f"target {name!r} has {distinct} distinct numbers ({rare} of them on fewer than "
                f"{RARE_CLASS_ROWS} rows): it looks like a quantity, not labels; is dataset.task "
                "meant to be regression? (if these numbers are labels, declare the target "
                "categorical in dataset.columns)",
                None,
            )
        if distinct < 2:
            return f"target {name!r} has a single class in the training sample", None
        if numeric and distinct >= 20:
            return None, f"target {name!r} has {distinct} classes: is dataset.task right?"
        return None, None
    if distinct <= 2:
        return None, (
            f"target {name!r} has only {distinct} distinct values: is dataset.task meant to be "
            "classification?"
        )
    return None, None


def split_for_training(
    warehouse: Warehouse,
    partitions: list[str],
    modeling: ModelingConfig,
    contract: SchemaContract,
    champion_cutoff: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, HoldoutSpec]:
    """A bounded training sample and a bounded holdout, disjoint by construction."""
    dataset = modeling.dataset
    columns = [*contract.inputs(), dataset.target]
    hash_columns = dataset.id_columns or [c for c in columns if c != dataset.target]
    spec = plan_holdout(
        warehouse,
        names.FEATURES,
        partitions,
        modeling.holdout.fraction,
        dataset.timestamp_column,
        hash_columns,
        champion_cutoff,
    )
    seed = modeling.training.random_seed
    withheld = count_holdout_rows(warehouse, names.FEATURES, partitions, spec)
    total = sum(warehouse.row_count(names.FEATURES, key) for key in partitions)
    train = warehouse.sample(
        names.FEATURES,
        partitions,
        modeling.training.sample_rows,
        seed,
        row_filter=lambda frame: ~holdout_mask(frame, spec),
        columns=columns,
        population=total - withheld,
        kinds=input_kinds(contract, dataset.target),
    )
    holdout = warehouse.sample(
        names.FEATURES,
        partitions,
        modeling.holdout.max_rows,
        seed,
        row_filter=lambda frame: holdout_mask(frame, spec),
        columns=columns,
        population=withheld,
        kinds=input_kinds(contract, dataset.target),
    )
    if dataset.timestamp_column:
        train = train.sort_values(dataset.timestamp_column, kind="stable").reset_index(drop=True)
    # Missing only where an infinite target was stored without the statistics that
    # would have left its partition out.
    train, holdout = (finite_numbers(f).dropna(subset=[dataset.target]) for f in (train, holdout))
    return train.reset_index(drop=True), holdout.reset_index(drop=True), spec


def finite_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with non-finite floats missing, as cleaning now stores them: partitions
    ingested before that rule may still hold infinities, which no estimator fits on."""
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    if not floats:
        return frame
    return frame.assign(**{c: finite_or_missing(frame[c].to_numpy()) for c in floats})


def _require_rows(frame: pd.DataFrame, what: str, minimum: int) -> None:
    if len(frame) < minimum:
        raise ValueError(
            f"{what} has {len(frame)} rows, fewer than the {minimum} needed: land more data"
        )


def search_candidates(
    modeling: ModelingConfig,
    candidates: list[CandidateConfig],
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    width: int,
    experiment_id: str,
    tags: dict[str, str],
) -> tuple[list[training.CandidateResult], dict[str, str]]:
    """Cross-validate every candidate, one nested MLflow run each; nothing is fitted on
    the whole sample yet. Returns the searched candidates and, for each that raised, its
    error: one candidate's failure (its MLflow run ends FAILED, tagged with the error)
    never stops the others."""

    results, failed = [], {}
    budget = modeling.training.time_budget_minutes
    search_ends = time.monotonic() + budget * 60 if budget else None
    for position, candidate in enumerate(candidates):
        deadline = None
        if search_ends is not None:
            left = len(candidates) - position
            deadline = time.monotonic() + (search_ends - time.monotonic()) / left
        try:
            results.append(
                _search_one(modeling, candidate, X, y, metric, width, experiment_id, tags, deadline)
            )
        except Exception as error:  # recorded on the candidate's run and in the outcome
            leave_out(failed, candidate.name, error)
    return results, failed


def leave_out(failed: dict[str, str], name: str, error: Exception, stage: str = "") -> None:
    """Record ``error`` as candidate ``name``'s failure. An outage is raised instead: no
    candidate is to blame, and the step retries it whole."""
    if outage(error) is not None:
        raise error
    failed[name] = f"{stage}{one_line(error)}"


def _search_one(
    modeling: ModelingConfig,
    candidate: CandidateConfig,
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    width: int,
    experiment_id: str,
    tags: dict[str, str],
    deadline: float | None,
) -> training.CandidateResult:
    import mlflow

    dataset, settings = modeling.dataset, modeling.training
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=candidate.name, nested=True, tags=tags
    ):
        try:
            result = training.tune_candidate(
                candidate,
                dataset.task,
                X,
                y,
                metric=metric,
                timestamp_column=dataset.timestamp_column,
                ignored_columns=dataset.ignored_columns,
                folds=settings.cv_folds,
                iterations=settings.search_iterations,
                n_jobs=width,
                seed=settings.random_seed,
                missing_indicator=modeling.cleaning.missing == "indicator",
                balance_classes=settings.try_balanced_class_weights,
                deadline=deadline,
                fit_best=False,
                edge_exact=modeling.edge_exact,
            )
        except Exception as error:
            # Leaving the block with the error ends the nested run as FAILED.
            mlflow.set_tag(CANDIDATE_ERROR_TAG, tracking.tag_value(one_line(error)))
            raise
        crash_point("search")
        mlflow.log_params({"estimator": candidate.estimator, **result.params})
        mlflow.log_metrics(
            {
                f"cv_{metric}": result.cv_score,
                "cv_std": result.cv_std,
                "fit_seconds": result.fit_seconds,
                "settings_tried": result.tried,
            }
        )
    return result


def edge_problem(modeling: ModelingConfig, model: object, rows: pd.DataFrame) -> str | None:
    """With ``deploy.onnx``, why ``model`` cannot ship as an exact ``model.onnx`` (checked
    on ``rows`` and the hard rows built from them); None when it can, or when no edge
    model is wanted. Without the edge extra the deployment says what is missing."""
    if not modeling.edge_exact:
        return None
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError:
        return None
    try:
        shipped, said = edge_parity.exactness(
            model, modeling.dataset.task, rows, modeling.edge_tolerance
        )
    except Exception as error:  # the candidate is left out for it; training goes on
        if outage(error) is not None:
            raise
        return f"the check failed: {one_line(error)}"
    return None if shipped is not None else said


def fit_best_that_fits(
    results: list[training.CandidateResult],
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    failed: dict[str, str],
    holdout: pd.DataFrame | None = None,
    modeling: ModelingConfig | None = None,
) -> training.CandidateResult:
    """The best-ranked candidate whose fit on the whole sample succeeds, which can
    predict the ``holdout``'s inputs (the gate scores it there) and, with ``deploy.onnx``,
    converts exactly; each one that fails is added to ``failed`` and the next is tried.
    When none converts exactly, the best that fits stands (the lifecycle goes on) and
    the deployment publishes no ``model.onnx``, saying why."""
    inexact: training.CandidateResult | None = None
    for result in training.ranked(results, evaluation.higher_is_better(metric)):
        stage = "refit on the training sample: "
        try:
            result.fit(X, y)
            if holdout is not None:
                stage = "predicting the holdout: "
                result.model.predict(holdout)
        except Exception as error:  # the next-best candidate takes its place
            leave_out(failed, result.name, error, stage)
            continue
        problem = edge_problem(modeling, result.model, holdout) if modeling else None
        if problem is not None:
            failed[result.name] = f"not exact as ONNX (deploy.onnx): {problem}"
            if inexact is None:
                inexact = result
            else:
                result.model = None  # a fitted forest is hundreds of MB
            continue
        if inexact is not None:
            inexact.model = None
        return result
    if inexact is not None:  # the deployment's edge note says why there is no model.onnx
        del failed[inexact.name]
        return inexact
    raise training.CandidateError(every_candidate_failed(failed), failed)


def every_candidate_failed(failed: dict[str, str]) -> str:
    reasons = "; ".join(f"{name}: {error}" for name, error in failed.items())
    return f"every candidate failed, so there is no challenger ({reasons})"


def train_challenger(
    warehouse: Warehouse,
    partitions: list[str],
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
    tags: dict[str, str],
    contract: SchemaContract,
    reuse_search: bool = False,
) -> TrainingOutcome:
    """Tune every candidate on the training sample, log them, and keep the best.

    With ``reuse_search`` (a retraining that new partitions alone triggered), the last
    search's choice is refit instead when :mod:`search_reuse` allows it. When every
    candidate fails, the partitions to blame are sought (:mod:`blame`); if some are
    found, they are left out, now and in later runs, and training starts again once.
    """
    if not partitions:
        raise ValueError("no feature partitions to train on: ingest landed files first")
    started = time.perf_counter()
    found = usable_partitions(warehouse, partitions, contract, modeling.dataset.target)
    usable, excluded = found.keys, found.excluded
    if not usable:
        reasons = "; ".join(f"{k}: {v}" for k, v in list(excluded.items())[:5])
        raise ValueError(
            f"none of the {len(partitions)} feature partitions conforms to the schema "
            f"contract ({reasons}); re-ingest with `ml-pipeline run --reingest`"
        )
    attempt = (warehouse, modeling, store, tags, contract, reuse_search, found.inputs)
    try:
        outcome = _train(usable, *attempt)
    except training.CandidateError as error:
        found = blame_failed_fit(warehouse, usable, modeling, contract, error.failed)
        if not found.partitions:
            raise training.CandidateError(
                f"{error}; no partition is to blame: {found.unresolved}", error.failed
            ) from error
        blame.record(warehouse, found.partitions, tags.get(names.DAGSTER_RUN_TAG, "unknown"))
        for key, why in found.partitions.items():
            excluded[key] = f"a fit failed on its rows, so it is left out from now on: {why}"
        outcome = _train([k for k in usable if k not in found.partitions], *attempt)
    outcome.excluded = excluded
    outcome.seconds = time.perf_counter() - started
    return outcome


def blame_failed_fit(
    warehouse: Warehouse,
    partitions: list[str],
    modeling: ModelingConfig,
    contract: SchemaContract,
    failed: dict[str, str],
) -> blame.Blame:
    """The partitions behind a training whose every candidate failed, sought with the
    first failed candidate's fixed parameters on each subset's rows (holdout included:
    the refit on all rows would meet them too)."""
    dataset = modeling.dataset
    candidates = [*modeling.training.candidates, training.REFERENCE]
    candidate = next((c for c in candidates if c.name in failed), candidates[0])
    columns = [*contract.inputs(), dataset.target]

    def probe(keys: list[str]) -> str | None:
        rows = warehouse.sample(
            names.FEATURES,
            keys,
            modeling.training.sample_rows,
            modeling.training.random_seed,
            columns=columns,
            kinds=input_kinds(contract, dataset.target),
        )
        rows = finite_numbers(rows).dropna(subset=[dataset.target])
        if rows.empty:
            return None  # nothing here to fail on
        X, y = rows.drop(columns=[dataset.target]), rows[dataset.target]
        try:
            fit_fixed(modeling, _rare_class_adjustment(modeling, y, [])(candidate), X, y)
        except Exception as error:  # the probe's answer: these rows fail the fit
            if outage(error) is not None:
                raise
            return f"{candidate.name}: {one_line(error)}"
        return None

    return blame.bisect(partitions, probe)


def fit_fixed(modeling: ModelingConfig, candidate: CandidateConfig, X: pd.DataFrame, y: pd.Series):
    """``candidate`` with its fixed parameters (no search), fitted as this config says."""
    dataset = modeling.dataset
    return training.fit_configuration(
        candidate,
        dataset.task,
        X,
        y,
        dataset.timestamp_column,
        dataset.ignored_columns,
        modeling.training.random_seed,
        modeling.cleaning.missing == "indicator",
        modeling.edge_exact,
    )


def _train(
    partitions: list[str],
    warehouse: Warehouse,
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
    tags: dict[str, str],
    contract: SchemaContract,
    reuse_search: bool,
    inputs: dict[str, tuple[str, int]],
) -> TrainingOutcome:
    import mlflow

    dataset, settings = modeling.dataset, modeling.training
    train, holdout, spec = split_for_training(
        warehouse, partitions, modeling, contract, store.champion_holdout_cutoff()
    )
    _require_rows(train, "the training sample", settings.cv_folds * 10)
    _require_rows(holdout, "the holdout", 2)
    error, warning = target_problem(train[dataset.target], dataset.task, dataset.max_classes)
    if error:
        raise ValueError(error)
    X, y = train.drop(columns=[dataset.target]), train[dataset.target]
    metric = modeling.metric
    ignored = dataset.ignored_columns
    warnings = [warning] if warning else []
    warnings += contract.undecided_notes(dataset.kind_evidence_rows)
    adjust = _rare_class_adjustment(modeling, y, warnings)
    candidates = [adjust(candidate) for candidate in settings.candidates]

    experiment_id = store.activate()
    key = search_reuse.search_key(modeling, contract.version, metric)
    past, refusal = (
        _past_search(store, key, settings.reuse_search_hours, len(train))
        if reuse_search
        else (None, None)
    )
    data_fingerprint = fingerprint(train)
    run_tags = {
        **tags,
        DATA_FINGERPRINT_TAG: data_fingerprint,
        PARTITION_COUNT_TAG: str(len(partitions)),
        PARTITIONS_TAG: tracking.tag_value(",".join(partitions)),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name="train", tags=run_tags) as parent:
        tracking.log_training_inputs(
            names.FEATURES,
            [(key, str(warehouse.path(names.FEATURES, key)), *inputs[key]) for key in partitions],
        )
        choice = None
        if past is not None and refusal is None:
            choice, refusal = _reuse(modeling, past, adjust, X, y, holdout)
        if choice is not None:
            mlflow.set_tag(names.SEARCH_REUSED_TAG, past.run_id)
        else:
            not_reused = refusal if reuse_search else None
            choice = _search(
                modeling, candidates, adjust, (X, y, holdout), experiment_id, tags, not_reused
            )
            mlflow.set_tags(search_reuse.search_tags(key, choice.chosen, len(train)))
        best, yardstick_verdict = choice.best, choice.yardstick
        if yardstick_verdict is not None:
            mlflow.set_tag(YARDSTICK_TAG, tracking.tag_value(yardstick_verdict))
        mlflow.log_params(
            {
                "challenger": best.name,
                "train_rows": len(train),
                "holdout_rows": len(holdout),
                "holdout": spec.describe(),
                "partitions": len(partitions),
            }
        )
        if math.isfinite(best.cv_score):
            mlflow.log_metric(f"cv_{metric}", best.cv_score)
        builder = best.model.named_steps["features"]
        drift_profile = build_reference(
            train,
            dataset.target,
            ignored,
            dataset.timestamp_column,
            list(builder.get_feature_names_out()),
        )
        mlflow.log_text(drift_profile.to_json(), "reference_profile.json")
        signature = tracking.signature_for(X, best.model.predict(X.head(50)), ignored)
        model_uri = tracking.log_sklearn_model(best.model, signature, tracking.as_landed(X.head(5)))
        holdout_key = parent.info.run_id
    warehouse.write(HOLDOUT_TABLE, holdout_key, holdout)
    return TrainingOutcome(
        mlflow_run_id=parent.info.run_id,
        model_uri=model_uri,
        metric=metric,
        challenger=best.name,
        candidates=[
            *(result.row(metric) for result in choice.results),
            *({"candidate": name, "error": error} for name, error in choice.failed.items()),
        ],
        failed=choice.failed,
        partitions=partitions,
        partition_rows={key: inputs[key][1] for key in partitions},
        train_rows=len(train),
        holdout_rows=len(holdout),
        holdout=spec,
        holdout_key=holdout_key,
        data_fingerprint=data_fingerprint,
        baseline=evaluation.fit_baseline(dataset.task, y, metric),
        drift_profile=drift_profile,
        warnings=warnings,
        chosen=choice.chosen,
        search=choice.search,
        reference_model=choice.reference_model,
        columns=list(train.columns),
        yardstick=yardstick_verdict,
        kinds=input_kinds(contract, dataset.target),
    )


@dataclass
class _Choice:
    """The challenger a training settled on, and how it was found."""

    best: training.CandidateResult
    chosen: CandidateConfig
    results: list[training.CandidateResult]
    failed: dict[str, str]
    search: str
    reference_model: object = None
    yardstick: str | None = None


def _reuse(
    modeling: ModelingConfig,
    past: object,
    adjust: Callable,
    X: pd.DataFrame,
    y: pd.Series,
    holdout: pd.DataFrame,
) -> tuple[_Choice | None, str | None]:
    """The last search's choice refit on this sample; or None, and why not."""
    started = time.perf_counter()
    try:
        model = fit_fixed(modeling, adjust(past.choice), X, y)
    except Exception as error:  # the search then runs, as if there were no past one
        if outage(error) is not None:
            raise
        return None, f"its choice failed to fit: {one_line(error)}"
    problem = edge_problem(modeling, model, holdout.drop(columns=[modeling.dataset.target]))
    if problem is not None:
        return None, f"its choice is not exact as ONNX: {problem}"
    best = training.CandidateResult.unsearched(past.choice, model, time.perf_counter() - started)
    return _Choice(
        best, past.choice, [best], {}, f"reused the choice of search run {past.run_id}"
    ), None


def _search(
    modeling: ModelingConfig,
    candidates: list[CandidateConfig],
    adjust: Callable,
    sample: tuple[pd.DataFrame, pd.Series, pd.DataFrame],
    experiment_id: str,
    tags: dict[str, str],
    not_reused: str | None,
) -> _Choice:
    """Every candidate cross-validated, the best fitted, then held against the default HGB."""
    X, y, holdout = sample
    settings, metric = modeling.training, modeling.metric
    # Only the winner is fitted on the whole sample, after the search's workers are
    # gone: no fitted loser (a forest is hundreds of MB) overlaps a later search.
    with training.search_workers(settings.n_jobs, settings.dask_scheduler) as width:
        results, failed = search_candidates(
            modeling, candidates, X, y, metric, width, experiment_id, tags
        )
    if not results:
        raise training.CandidateError(every_candidate_failed(failed), failed)
    holdout_inputs = holdout.drop(columns=[modeling.dataset.target])
    best = fit_best_that_fits(results, X, y, metric, failed, holdout_inputs, modeling)
    chosen = next(c for c in candidates if c.name == best.name).model_copy(
        update={"params": best.params, "search": {}}
    )
    search = f"searched {len(results)} candidate(s)"
    if failed:
        search += f"; {len(failed)} failed and left out"
    if not_reused is not None:
        search += f"; not reused: {not_reused}"
    choice = _Choice(best, chosen, results, failed, search)
    # The reference shows whether a search earned its time, and takes the challenger's
    # place when it scores better on the holdout; a run that reused a search has no
    # search of its own to judge, and saves another fit.
    if settings.reference_model:
        choice.best, choice.chosen, choice.yardstick, choice.reference_model = _against_reference(
            modeling, adjust(training.REFERENCE), best, chosen, X, y, holdout, failed
        )
    return choice


def _against_reference(
    modeling: ModelingConfig,
    reference: CandidateConfig,
    best: training.CandidateResult,
    chosen: CandidateConfig,
    X: pd.DataFrame,
    y: pd.Series,
    holdout: pd.DataFrame,
    failed: dict[str, str],
) -> tuple[training.CandidateResult, CandidateConfig, str | None, object]:
    """The default HGB fitted on the same sample and judged against ``best`` on the
    holdout: it takes ``best``'s place when it wins. Returns the winner, its
    configuration, the verdict and the reference model (None when it failed, which is
    recorded in ``failed`` and leaves ``best`` standing)."""
    started = time.perf_counter()
    try:
        model = fit_fixed(modeling, reference, X, y)
        verdict = yardstick.judge(modeling, best.name, best.model, model, holdout, modeling.metric)
    except Exception as error:  # the challenger stands without its yardstick
        leave_out(failed, reference.name, error)
        return best, chosen, None, None
    if not verdict.replaces:
        return best, chosen, verdict.reason, model
    problem = edge_problem(modeling, model, holdout.drop(columns=[modeling.dataset.target]))
    if problem is not None:
        return best, chosen, f"{verdict.reason}; it stays out, not exact as ONNX: {problem}", model
    winner = training.CandidateResult.unsearched(reference, model, time.perf_counter() - started)
    return winner, reference, verdict.reason, model


def _rare_class_adjustment(
    modeling: ModelingConfig, y: pd.Series, warnings: list[str]
) -> Callable[[CandidateConfig], CandidateConfig]:
    """What every candidate of this training needs for its classes: early stopping off
    when a class too rare for its stratified split would break a fit (a warning says so)."""
    settings = modeling.training
    if modeling.dataset.task != "classification":
        return lambda candidate: candidate
    hazard = training.early_stopping_hazard(
        y, settings.cv_folds, modeling.dataset.timestamp_column is not None, settings.random_seed
    )
    if hazard is None:
        return lambda candidate: candidate
    warnings.append(
        f"early stopping of gradient boosting is off for this training: {hazard} "
        "(its stratified split needs two rows of every class)"
    )
    return training.without_early_stopping


def _past_search(
    store: tracking.MlflowStore, key: str, max_age_hours: float | None, rows: int
) -> tuple[search_reuse.PastSearch | None, str | None]:
    """The newest finished search with this key, and why it cannot be reused (or None)."""
    found = store.latest_finished_run(names.SEARCH_KEY_TAG, key) if max_age_hours else None
    past = search_reuse.past_search(*found) if found else None
    return past, search_reuse.reuse_refusal(past, time.time(), max_age_hours, rows)


def prune_holdouts(warehouse: Warehouse, keep: set[str]) -> list[str]:
    """Delete the holdout of every training run not in ``keep``; return what went.

    Each training run writes its holdout, keyed by its MLflow run id. Registered
    versions keep theirs, to be re-scored on the rows they were judged on; the rest
    would otherwise pile up, one file per training.
    """
    pruned = [key for key in warehouse.partitions(HOLDOUT_TABLE) if key not in keep]
    for key in pruned:
        warehouse.drop(HOLDOUT_TABLE, key)
    return pruned
