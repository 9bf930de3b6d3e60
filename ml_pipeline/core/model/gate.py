"""Validate a challenger on withheld rows, next to the baseline and the champion.

Everything is scored on the same holdout in the same run, the challenger's
exported artifact is smoke-tested in a fresh process, and the promotion
decision follows the configured rules unless a person overrides it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ml_pipeline.config import ModelingConfig
from ml_pipeline.core import names, tracking
from ml_pipeline.core.crashpoints import crash_point
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.model import diagnostics, evaluation, promotion, refit
from ml_pipeline.core.model.blame import content_digest
from ml_pipeline.core.model.bootstrap import Predictions
from ml_pipeline.core.model.challenger import HOLDOUT_TABLE, TrainingOutcome, prune_holdouts
from ml_pipeline.core.model.refit import DeployCandidate
from ml_pipeline.core.model.smoke import PendingSmokeTest, SmokeProcess, SmokeResult, smoke_process
from ml_pipeline.core.model.splitting import holdout_mask
from ml_pipeline.core.model.yardstick import DEFAULT_HGB, paired
from ml_pipeline.core.names import DECISION_TAG, PROMOTE_TAG, SMOKE_TEST_TAG
from ml_pipeline.core.outages import one_line, outage

SMOKE_ROWS = 500


@dataclass
class ValidationOutcome:
    metric: str
    challenger: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None
    champion_version: str | None
    decision: promotion.Decision
    smoke: SmokeResult | None = None
    classes: list[str] = field(default_factory=list)
    confusion: list[list[int]] | None = None
    importances: dict[str, float] = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)
    # The default HistGradientBoosting fitted on the same sample, on the same holdout.
    default_hgb: dict[str, float] | None = None
    holdout_rows: int = 0
    # The challenger on the rows it was compared with the champion on (rows neither saw).
    challenger_compared: dict[str, float] | None = None
    compared_rows: int = 0
    # What gets registered when the decision is to promote.
    deploy: DeployCandidate | None = None
    per_class: list[dict[str, object]] = field(default_factory=list)
    # Metrics that could not be measured, and why.
    unmeasured: dict[str, str] = field(default_factory=dict)


def _plots(
    model: object,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    importances: pd.Series,
    confusion: list[list[int]] | None,
) -> dict[str, bytes]:
    plots = {"permutation_importance": diagnostics.importance_plot(importances)}
    if task == "regression":
        plots["residuals"] = diagnostics.residual_plot(y, model.predict(X))
    else:
        classes = list(model.classes_)
        plots["confusion_matrix"] = diagnostics.confusion_plot(confusion, classes)
        plots["roc"] = diagnostics.roc_plot(y, model.predict_proba(X), classes)
    return plots


@contextlib.contextmanager
def started_smoke_test_of(
    child: SmokeProcess, model: object, model_uri: str, X: pd.DataFrame
) -> Iterator[PendingSmokeTest]:
    """Export the logged model as deployed and have the fresh process score holdout rows
    with it; the caller reads the result when it needs it."""
    import mlflow.artifacts

    sample = X.head(SMOKE_ROWS)
    rows = tracking.as_landed(sample)
    expected = np.asarray(model.predict(sample))
    with tempfile.TemporaryDirectory() as scratch:
        exported = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch)
        yield child.score(Path(exported), rows, expected, list(X.columns))


def _comparison_rows(
    outcome: TrainingOutcome,
    warehouse: Warehouse,
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
    champion_version: object,
    holdout: pd.DataFrame,
) -> pd.DataFrame:
    """The holdout rows the champion never trained on.

    A champion fitted without its holdout (no refit) saw none of this holdout: the split
    is stable and never reaches back past its cutoff. A refit champion saw the rows of
    the partitions it was trained on: rows of later partitions count, and so do rows of
    a partition whose content changed since (a file landed again, completed) that are
    not among the rows it fitted, told apart by their content hashes.
    """
    if champion_version.tags.get(names.REFIT_TAG) != "true":
        return holdout
    seen = refit.seen_by(store, warehouse, champion_version.run_id)
    unseen = [
        key
        for key in outcome.partitions
        if key not in seen.partitions
        or seen.changed(key, content_digest(warehouse.footer(names.FEATURES, key)))
    ]
    if not unseen:
        return holdout.iloc[:0]
    return warehouse.sample(
        names.FEATURES,
        unseen,
        modeling.holdout.max_rows,
        modeling.training.random_seed,
        row_filter=lambda frame: holdout_mask(frame, outcome.holdout) & seen.unseen_rows(frame),
        columns=list(holdout.columns),
        kinds=outcome.kinds,
    )


def _repeat_of_rolled_back(
    rolled_back: dict[str, tuple[str, str]], deploy: DeployCandidate
) -> str | None:
    found = rolled_back.get(deploy.model_fingerprint)
    if found is None:
        return None
    version, when = found
    return (
        f"the same model as version {version} (same configuration on the same rows), which "
        f"was rolled back at {when}: land new data, change the configuration, or force it"
    )


def _loaded(store: tracking.MlflowStore, version: str) -> tuple[object, str | None]:
    """The registered ``version``, or why it cannot be loaded: a champion whose artifact
    is gone, or was written by an incompatible library, must not stop every gate."""
    try:
        return store.load_version(version), None
    except Exception as error:  # told in the decision; an outage is retried instead
        if outage(error) is not None:
            raise
        return None, f"cannot be loaded: {one_line(error)}"


def _predicted(model: object, X: pd.DataFrame, labels: list | None):
    """The champion's predictions of ``X``, or why it cannot make them (its columns left
    the data, say): it would fail the service's requests the same way."""
    try:
        return Predictions.of(model, X, labels), None
    except Exception as error:  # told in the decision; an outage is retried instead
        if outage(error) is not None:
            raise
        return None, f"cannot score the holdout: {one_line(error)}"


def _classes(model: object) -> list | None:
    return list(model.classes_) if hasattr(model, "classes_") else None


Scores = dict[str, float]


@dataclass
class _HoldoutScores:
    """The challenger, the trivial baseline and the default HGB on the holdout."""

    labels: list | None
    said: Predictions
    challenger: Scores
    baseline: Scores
    default_hgb: Scores | None
    versus_baseline: promotion.Paired
    unmeasured: dict[str, str]


def _score_holdout(
    outcome: TrainingOutcome, model: object, X: pd.DataFrame, y: pd.Series, modeling: ModelingConfig
) -> _HoldoutScores:
    task = modeling.dataset.task
    labels = None
    if task == "classification":
        labels = sorted(set(model.classes_) | set(y.dropna()))
    # Each model predicts each set of rows once; its scores and the paired bootstrap
    # share those predictions.
    said = Predictions.of(model, X, labels)
    said_by_baseline = Predictions.of(outcome.baseline, X, labels)
    unmeasured = evaluation.unmeasured(y, list(model.classes_)) if task != "regression" else {}
    default_hgb = None
    if outcome.reference_model is not None:
        try:
            default_hgb = evaluation.score(outcome.reference_model, X, y, task)
        except Exception as error:  # the yardstick failing must not stop the decision
            if outage(error) is not None:
                raise
            unmeasured[DEFAULT_HGB] = f"scoring the holdout raised {one_line(error)}"
    return _HoldoutScores(
        labels=labels,
        said=said,
        challenger=said.scores(y, task, _classes(model)),
        baseline=said_by_baseline.scores(y, task, _classes(outcome.baseline)),
        default_hgb=default_hgb,
        versus_baseline=paired(modeling, y, said, said_by_baseline, outcome.metric),
        unmeasured=unmeasured,
    )


@dataclass
class _ChampionComparison:
    """The challenger against the serving champion on rows neither saw."""

    version: str | None = None
    champion: Scores | None = None
    challenger: Scores | None = None
    versus: promotion.Paired | None = None
    broken: str | None = None  # why the champion could not be scored
    rows: int = 0


def _compare_with_champion(
    outcome: TrainingOutcome,
    model: object,
    labels: list | None,
    holdout: pd.DataFrame,
    warehouse: Warehouse,
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
) -> _ChampionComparison:
    current = store.champion()
    if current is None:
        return _ChampionComparison()
    task, target = modeling.dataset.task, modeling.dataset.target
    found = _ChampionComparison(version=str(current.version))
    champion_model, found.broken = _loaded(store, found.version)
    # A champion of the other task (the config's task was changed) cannot be compared.
    if found.broken is not None or hasattr(champion_model, "classes_") != (
        task == "classification"
    ):
        return found
    rows = _comparison_rows(outcome, warehouse, modeling, store, current, holdout)
    found.rows = len(rows)
    if not len(rows):
        found.versus = promotion.Paired(0, float("nan"), float("nan"))
        return found
    Xc, yc = rows.drop(columns=[target]), rows[target]
    said_compared = Predictions.of(model, Xc, labels)
    said_by_champion, found.broken = _predicted(champion_model, Xc, labels)
    if said_by_champion is not None:
        found.champion = said_by_champion.scores(yc, task, _classes(champion_model))
        found.challenger = said_compared.scores(yc, task, _classes(model))
        found.versus = paired(modeling, yc, said_compared, said_by_champion, outcome.metric)
    return found


@dataclass
class _Prepared:
    """What the steps after the decision made: the deployment, its smoke test, plots."""

    decision: promotion.Decision
    deploy: DeployCandidate | None
    smoke: SmokeResult | None
    importances: dict[str, float]
    plots: dict[str, bytes]


def _prepare_deployment(
    outcome: TrainingOutcome,
    model: object,
    holdout: pd.DataFrame,
    scores: _HoldoutScores,
    confusion: list[list[int]] | None,
    decision: promotion.Decision,
    planned: tuple[pd.DataFrame | None, DeployCandidate | None],
    warehouse: Warehouse,
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
) -> _Prepared:
    """For a promotion, the refit on all rows and the smoke test of its export; in every
    case the diagnostics. A failed smoke test turns the decision into a refusal."""
    task, target = modeling.dataset.task, modeling.dataset.target
    X, y = holdout.drop(columns=[target]), holdout[target]
    rows, deploy = planned
    smoke = None
    with contextlib.ExitStack() as waiting:
        pending = None
        if decision.promote:
            # The smoke test's fresh process starts now: its imports overlap the refit, the
            # logging and the diagnostics, which do not bear on the decision. Meanwhile
            # this process keeps to one native thread: OpenMP's threads spin while they
            # wait, and two of them beside the importing child slowed the refit and the
            # permutation importance several times over in a profile of the demo.
            child = waiting.enter_context(smoke_process())
            waiting.enter_context(threadpool_limits(limits=1))
            if deploy is None:
                rows, deploy = refit.plan(outcome, warehouse, modeling)
            deployed_model = model
            if rows is not None:
                deployed_model = refit.refit(outcome, model, rows, deploy, modeling, store)
                refit.record_seen_rows(warehouse, outcome.mlflow_run_id, rows)
            pending = waiting.enter_context(
                started_smoke_test_of(child, deployed_model, deploy.model_uri, X)
            )
        importances = diagnostics.permutation_importances(
            model, X, y, outcome.metric, modeling.training.random_seed
        )
        plots = _plots(model, X, y, task, importances, confusion)
        compared = {"challenger": scores.challenger, "baseline": scores.baseline}
        if scores.default_hgb is not None:
            compared[DEFAULT_HGB] = scores.default_hgb
        plots["model_comparison"] = diagnostics.comparison_plot(
            compared, outcome.metric, len(holdout)
        )
        if pending is not None:
            smoke = pending.result()
            if not smoke.passed:
                decision = promotion.Decision(False, f"smoke test failed: {smoke.message}")
    return _Prepared(decision, deploy, smoke, {k: float(v) for k, v in importances.items()}, plots)


def _log_validation(
    outcome: TrainingOutcome,
    scores: _HoldoutScores,
    versus: _ChampionComparison,
    prepared: _Prepared,
) -> None:
    """The holdout scores, the diagnostics and the verdict, on the training's MLflow run."""
    import mlflow

    with mlflow.start_run(run_id=outcome.mlflow_run_id):
        mlflow.log_metrics({f"holdout_{k}": v for k, v in scores.challenger.items()})
        crash_point("validation")
        mlflow.log_metrics({f"baseline_{k}": v for k, v in scores.baseline.items()})
        if scores.default_hgb is not None:
            mlflow.log_metrics({f"reference_{k}": v for k, v in scores.default_hgb.items()})
        if versus.champion is not None:
            mlflow.log_metrics({f"champion_{k}": v for k, v in versus.champion.items()})
        with tempfile.TemporaryDirectory() as scratch:
            for name, png in prepared.plots.items():
                (Path(scratch) / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(scratch, "diagnostics")
        mlflow.log_dict(prepared.importances, "diagnostics/permutation_importance.json")
        smoke = prepared.smoke
        mlflow.set_tags(
            {
                PROMOTE_TAG: str(prepared.decision.promote),
                DECISION_TAG: tracking.tag_value(prepared.decision.reason),
                SMOKE_TEST_TAG: tracking.tag_value(smoke.message if smoke else "not run"),
            }
        )


def validate_challenger(
    outcome: TrainingOutcome,
    warehouse: Warehouse,
    modeling: ModelingConfig,
    store: tracking.MlflowStore,
    override: str | None = None,
) -> ValidationOutcome:
    """Score the challenger on the holdout, compare it with the champion, decide, prepare
    the deployment (refit and smoke test) and log it all: the gate, step by step."""

    store.activate()
    target, metric = modeling.dataset.target, outcome.metric
    holdout = warehouse.read(HOLDOUT_TABLE, outcome.holdout_key)
    X, y = holdout.drop(columns=[target]), holdout[target]
    keep = {outcome.holdout_key, *store.registered_run_ids()}
    prune_holdouts(warehouse, keep)
    refit.prune_seen_rows(warehouse, keep)
    model = tracking.load_sklearn_model(outcome.model_uri)

    scores = _score_holdout(outcome, model, X, y, modeling)
    versus = _compare_with_champion(
        outcome, model, scores.labels, holdout, warehouse, modeling, store
    )
    if versus.broken is not None:
        scores.unmeasured[f"champion v{versus.version}"] = versus.broken

    # Drawing the refit's rows reads every partition: done before the decision only when
    # a rolled-back version exists that the refit might reproduce.
    rolled_back = store.rolled_back()
    planned = refit.plan(outcome, warehouse, modeling) if rolled_back else (None, None)
    deploy = planned[1]
    decision = promotion.decide(
        scores.challenger,
        promotion.Rules.from_config(modeling.promotion, metric),
        scores.versus_baseline,
        versus.versus,
        versus.version,
        override,
        _repeat_of_rolled_back(rolled_back, deploy) if deploy is not None else None,
        versus.broken,
    )
    confusion = per_class = None
    if modeling.dataset.task == "classification":
        confusion = evaluation.confusion(y, scores.said.values, list(model.classes_))
        per_class = evaluation.per_class(y, scores.said.values, list(model.classes_))
    prepared = _prepare_deployment(
        outcome, model, holdout, scores, confusion, decision, planned, warehouse, modeling, store
    )
    _log_validation(outcome, scores, versus, prepared)

    return ValidationOutcome(
        metric=metric,
        challenger=scores.challenger,
        baseline=scores.baseline,
        champion=versus.champion,
        champion_version=versus.version,
        decision=prepared.decision,
        smoke=prepared.smoke,
        classes=[str(c) for c in getattr(model, "classes_", [])],
        confusion=confusion,
        importances=prepared.importances,
        plots=prepared.plots,
        default_hgb=scores.default_hgb,
        holdout_rows=len(holdout),
        challenger_compared=versus.challenger,
        compared_rows=versus.rows,
        deploy=prepared.deploy,
        per_class=per_class or [],
        unmeasured=scores.unmeasured,
    )


def gate_problem(
    decision: promotion.Decision, smoke: SmokeResult | None, champion_version: str | None
) -> str | None:
    """What is wrong after the gate, or None. Keeping the champion is not a problem; an
    artifact that failed its smoke test, or no model serving at all, is."""
    if smoke is not None and not smoke.passed:
        return f"the challenger's artifact failed its smoke test: {smoke.message}"
    if not decision.promote and champion_version is None:
        return f"no model serves: {decision.reason}"
    return None
