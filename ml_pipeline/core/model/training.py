"""Candidate pipelines, their tuning by cross-validation, and the challenger."""

from __future__ import annotations

import contextlib
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import FitFailedWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ParameterSampler,
    StratifiedKFold,
    TimeSeriesSplit,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.features import FeatureBuilder, Float32, OutlierClipper
from ml_pipeline.core.model import evaluation

TREE_ESTIMATORS = frozenset({"random_forest", "hist_gradient_boosting"})
# One-hot columns are dense: this bounds the design matrix of linear models whatever a
# column's cardinality (a 4,000-station column would otherwise add 4,000 columns).
ONE_HOT_MAX_CATEGORIES = 50
# Trees split on category codes instead; 255 is the most HistGradientBoosting can bin.
ORDINAL_MAX_CATEGORIES = 255

CV_SCORING = {
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
    "accuracy": "accuracy",
    "f1_macro": "f1_macro",
}
# Probability metrics are scored against every label of the training sample: a fold
# whose training or validation part lacks a class would otherwise fail the search.
LABELLED_METRICS = frozenset({"roc_auc", "log_loss"})


class CandidateError(ValueError):
    """A candidate could not be searched, fitted or scored; the others go on without it.

    Raised for a whole training, ``failed`` names each candidate and its error."""

    def __init__(self, message: str, failed: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failed = dict(failed or {})


def first_fit_error(messages: list[str]) -> str:
    """The last line of the first traceback in scikit-learn's FitFailedWarning text:
    the error itself, without the frames."""
    lines = [line.strip() for line in messages[0].splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception):", line)]
    return (errors[0] if errors else lines[-1])[:300]


# HistGradientBoosting's early stopping holds back this share of the rows it is given,
# split stratified by class for a classifier.
EARLY_STOPPING_SHARE = 0.1


def early_stopping_hazard(y: pd.Series, folds: int, time_ordered: bool, seed: int) -> str | None:
    """Why a stratified early-stopping split would fail on some fit of this training (the
    whole sample or a cross-validation fold's training part), or None.

    The split needs two rows of every class in the part, and at least one row per class
    on each side: a class seen once or twice breaks it in the folds that hold it.
    """
    labels = y.reset_index(drop=True)
    cv = cross_validator("classification", folds, time_ordered, seed)
    parts = [labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # StratifiedKFold on a rare class
        with contextlib.suppress(ValueError):  # fewer rows than folds: the search says so
            parts += [labels.iloc[train] for train, _ in cv.split(labels.to_frame(), labels)]
    for part in parts:
        counts = part.value_counts()
        held_back = math.ceil(EARLY_STOPPING_SHARE * len(part))
        if len(counts) and counts.min() < 2:
            return f"class {counts.idxmin()!r} has {counts.min()} row in a part it is fitted on"
        if held_back < len(counts) or len(part) - held_back < len(counts):
            return f"{len(counts)} classes do not fit in a tenth of {len(part)} rows"
    return None


def without_early_stopping(candidate: CandidateConfig) -> CandidateConfig:
    """The candidate with HistGradientBoosting's early stopping off (its round cap stays)."""
    if candidate.estimator != "hist_gradient_boosting":
        return candidate
    return candidate.model_copy(update={"params": {**candidate.params, "early_stopping": False}})


@dataclass
class CandidateResult:
    name: str
    estimator: str
    params: dict[str, object]
    cv_score: float
    cv_std: float
    fit_seconds: float
    # Fitted on the whole sample; None until ``fit`` when the search was told not to.
    model: Pipeline | None = field(repr=False)
    # Settings cross-validated, of those planned (fewer when the time budget ran out).
    tried: int = 1
    planned: int = 1
    # The unfitted pipeline and the winning setting, enough to fit it later.
    unfitted: Pipeline | None = field(default=None, repr=False)
    setting: dict[str, object] = field(default_factory=dict)
    # Each treatment the search switched: its best cross-validated score on and off.
    treatments: dict[str, str] = field(default_factory=dict)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Pipeline:
        """Fit the chosen setting on X (once; later calls return the same model); its time
        counts in ``fit_seconds``."""
        if self.model is None:
            started = time.perf_counter()
            self.model = clone(self.unfitted).set_params(**self.setting).fit(X, y)
            self.fit_seconds += time.perf_counter() - started
        return self.model

    @classmethod
    def unsearched(
        cls, choice: CandidateConfig, model: Pipeline, seconds: float
    ) -> CandidateResult:
        """An earlier search's choice, fitted again without cross-validation (no CV score)."""
        return cls(
            name=choice.name,
            estimator=choice.estimator,
            params=dict(choice.params),
            cv_score=float("nan"),
            cv_std=float("nan"),
            fit_seconds=seconds,
            model=model,
            tried=0,
            planned=0,
        )

    def row(self, metric: str) -> dict[str, object]:
        return {
            "candidate": self.name,
            "estimator": self.estimator,
            f"cv_{metric}": round(self.cv_score, 5) if math.isfinite(self.cv_score) else None,
            "cv_std": round(self.cv_std, 5) if math.isfinite(self.cv_std) else None,
            "fit_seconds": round(self.fit_seconds, 2),
            "settings_tried": f"{self.tried} of {self.planned}" if self.planned else "reused",
            "params": {k: v for k, v in self.params.items()},
            **({"treatments": self.treatments} if self.treatments else {}),
        }


def estimator_params(name: str, task: str, params: dict[str, object]) -> dict[str, object]:
    """Config uses one regularisation knob, ``alpha``, for the linear model of either task.

    LogisticRegression calls its inverse ``C``; translating here keeps configs portable.
    """
    if name != "linear" or task == "regression" or "alpha" not in params:
        return params
    translated = {k: v for k, v in params.items() if k != "alpha"}
    alpha = params["alpha"]
    translated["C"] = [1.0 / a for a in alpha] if isinstance(alpha, list) else 1.0 / alpha
    return translated


# Treatments of the numbers that a candidate's params or search may switch, and the
# pipeline step parameter each one sets: cross-validation can then judge whether a
# treatment earns its place. The model card and the candidate table say what it chose.
CLIP_QUANTILE = 0.005
PIPELINE_OPTIONS = {
    "clip_outliers": "preprocess__numeric__clip__quantile",
    "missing_indicator": "preprocess__numeric__impute__add_indicator",
}


def _pipeline_value(option: str, value: object) -> object:
    if option == "clip_outliers":
        return CLIP_QUANTILE if value else None
    return bool(value)


def routed(options: dict[str, object]) -> dict[str, object]:
    """Search or fixed options keyed as the pipeline's parameters: treatments to their
    steps, everything else to the estimator."""
    out = {}
    for key, value in options.items():
        if key in PIPELINE_OPTIONS:
            translate = (
                [_pipeline_value(key, v) for v in value]
                if isinstance(value, list)
                else _pipeline_value(key, value)
            )
            out[PIPELINE_OPTIONS[key]] = translate
        else:
            out[f"model__{key}"] = value
    return out


def unrouted(setting: dict[str, object]) -> dict[str, object]:
    """A search setting keyed as the candidate's params again."""
    back = {step: option for option, step in PIPELINE_OPTIONS.items()}
    out = {}
    for key, value in setting.items():
        if key in back:
            option = back[key]
            out[option] = value is not None if option == "clip_outliers" else bool(value)
        else:
            out[key.removeprefix("model__")] = value
    return out


def make_estimator(name: str, task: str, params: dict[str, object], seed: int) -> object:
    regression = task == "regression"
    params = estimator_params(name, task, params)
    if name == "linear":
        if regression:
            return Ridge(**params)
        return LogisticRegression(max_iter=2000, **params)
    if name == "random_forest":
        cls = RandomForestRegressor if regression else RandomForestClassifier
        # One job per forest: the search already spreads candidates over the cores.
        return cls(random_state=seed, n_jobs=1, **params)
    if name == "hist_gradient_boosting":
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(random_state=seed, **params)
    raise ValueError(f"unknown estimator {name!r}")


def build_pipeline(
    candidate: CandidateConfig,
    task: str,
    X: pd.DataFrame,
    timestamp_column: str | None,
    ignored_columns: list[str],
    seed: int,
    missing_indicator: bool = False,
    edge_exact: bool = False,
) -> Pipeline:
    """Raw columns in, prediction out: features, imputation, encoding, estimator.

    ``edge_exact`` builds the form an ONNX model reproduces exactly: gradient boosting
    reads category codes as plain numbers (its native categories have no exact
    conversion), and trees read float32, the precision of their ONNX thresholds."""
    builder = FeatureBuilder(timestamp_column, ignored_columns).fit(X)
    tree = candidate.estimator in TREE_ESTIMATORS
    params = candidate.params
    numeric_steps: list[tuple[str, object]] = []
    if "clip_outliers" in params or "clip_outliers" in candidate.search:
        quantile = _pipeline_value("clip_outliers", params.get("clip_outliers", False))
        numeric_steps.append(("clip", OutlierClipper(quantile)))
    indicator = bool(params.get("missing_indicator", missing_indicator))
    numeric_steps.append(("impute", SimpleImputer(strategy="median", add_indicator=indicator)))
    if not tree:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [("impute", SimpleImputer(strategy="most_frequent")), ("encode", _encoder(tree))]
    )
    numeric_block = ("numeric", Pipeline(numeric_steps), builder.numeric_output_columns())
    categorical_block = ("categorical", categorical, builder.categorical_columns_)
    # Codes come first for trees, so the categorical columns are the model's first inputs
    # however many missing-value indicators follow the numeric ones.
    blocks = [categorical_block, numeric_block] if tree else [numeric_block, categorical_block]
    preprocess = ColumnTransformer(blocks, verbose_feature_names_out=False)
    estimator_only = {k: v for k, v in params.items() if k not in PIPELINE_OPTIONS}
    estimator = make_estimator(candidate.estimator, task, estimator_only, seed)
    if candidate.estimator == "hist_gradient_boosting":
        codes = list(range(len(builder.categorical_columns_)))
        estimator.set_params(categorical_features=None if edge_exact or not codes else codes)
    cast = [("float32", Float32())] if edge_exact and tree else []
    steps = [("features", builder), ("preprocess", preprocess), *cast, ("model", estimator)]
    return Pipeline(steps)


def _encoder(tree: bool) -> OneHotEncoder | OrdinalEncoder:
    """Codes for trees, capped one-hot columns for linear models; rare values pooled."""
    if tree:
        return OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            min_frequency=5,
            max_categories=ORDINAL_MAX_CATEGORIES,
        )
    return OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=5,
        max_categories=ONE_HOT_MAX_CATEGORIES,
        sparse_output=False,
    )


def _labelled_scorer(metric: str, labels: list) -> Callable:
    def score(estimator: object, X: pd.DataFrame, y: pd.Series) -> float:
        probabilities = evaluation.aligned_probabilities(
            estimator.predict_proba(X), list(estimator.classes_), labels
        )
        if metric == "log_loss":
            return -float(log_loss(y, probabilities, labels=labels))
        auc = evaluation.macro_roc_auc(np.asarray(y), probabilities, labels)
        return np.nan if auc is None else auc

    return score


def cv_scorer(metric: str, y: pd.Series) -> str | Callable:
    """The search's scorer for ``metric``, higher always better."""
    if metric in LABELLED_METRICS:
        return _labelled_scorer(metric, sorted(y.dropna().unique().tolist()))
    return CV_SCORING[metric]


def cross_validator(task: str, folds: int, time_ordered: bool, seed: int) -> object:
    if time_ordered:
        return TimeSeriesSplit(n_splits=folds)
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def search_space(
    candidate: CandidateConfig, task: str, balance_classes: bool
) -> dict[str, list[object]]:
    """The candidate's search options; for classification also unweighted against
    balanced class weights, unless the candidate sets class_weight itself."""
    options = dict(candidate.search)
    if (
        balance_classes
        and task == "classification"
        and "class_weight" not in options
        and "class_weight" not in candidate.params
    ):
        options["class_weight"] = [None, "balanced"]
    return options


# A default HistGradientBoosting on the same features: the bar a tuned search should clear.
REFERENCE = CandidateConfig(name="reference_hgb", estimator="hist_gradient_boosting")


def fit_configuration(
    candidate: CandidateConfig,
    task: str,
    X: pd.DataFrame,
    y: pd.Series,
    timestamp_column: str | None,
    ignored_columns: list[str],
    seed: int,
    missing_indicator: bool = False,
    edge_exact: bool = False,
) -> Pipeline:
    """One pipeline with the candidate's fixed parameters, fitted on X."""
    pipeline = build_pipeline(
        candidate, task, X, timestamp_column, ignored_columns, seed, missing_indicator, edge_exact
    )
    return pipeline.fit(X, y)


def _search_size(search: dict[str, list[object]]) -> int:
    return int(np.prod([len(options) for options in search.values()])) if search else 1


def tune_candidate(
    candidate: CandidateConfig,
    task: str,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str,
    timestamp_column: str | None,
    ignored_columns: list[str],
    folds: int,
    iterations: int,
    n_jobs: int,
    seed: int,
    missing_indicator: bool = False,
    balance_classes: bool = False,
    deadline: float | None = None,
    fit_best: bool = True,
    edge_exact: bool = False,
) -> CandidateResult:
    """Randomised search over the candidate's options; the best is refit on all of X,
    or, with ``fit_best=False``, left for ``CandidateResult.fit`` (so a search over
    several candidates fits only the one it picks).

    X must be in time order when ``timestamp_column`` is set: the folds then always
    validate on rows later than those they train on. Settings are cross-validated a
    round of ``n_jobs`` at a time; with a ``deadline`` (a ``time.monotonic()`` value) no
    round starts that the rounds so far say would end after it, so the search stops
    within about one round of its budget. The first round always runs.
    """
    pipeline = build_pipeline(
        candidate, task, X, timestamp_column, ignored_columns, seed, missing_indicator, edge_exact
    )
    options = estimator_params(
        candidate.estimator, task, search_space(candidate, task, balance_classes)
    )
    settings = (
        list(
            ParameterSampler(
                routed(options),
                n_iter=min(iterations, _search_size(options)),
                random_state=seed,
            )
        )
        if options
        else [{}]
    )
    cv = cross_validator(task, folds, timestamp_column is not None, seed)
    scoring = cv_scorer(metric, y)
    started = time.perf_counter()
    means, stds, tried = [], [], []
    fit_failures: list[str] = []
    for start in range(0, len(settings), n_jobs):
        if tried and deadline is not None:
            per_round = (time.perf_counter() - started) / (start // n_jobs)
            if time.monotonic() + per_round > deadline:
                break
        batch = settings[start : start + n_jobs]
        search = GridSearchCV(
            pipeline,
            [{k: [v] for k, v in setting.items()} for setting in batch],
            scoring=scoring,
            cv=cv,
            n_jobs=n_jobs,
            refit=False,
            # A fold that cannot be fitted (a class absent from an early time slice) is
            # left out of the mean; a setting that fails every fold is undefined.
            error_score=np.nan,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FitFailedWarning)
            try:
                search.fit(X, y)
            except ValueError as error:  # scikit-learn's "All the N fits failed"
                if "fits failed" not in str(error):
                    raise
                raise CandidateError(
                    f"every cross-validation fit failed: {first_fit_error([str(error)])}"
                ) from None
        fit_failures += [str(w.message) for w in caught if w.category is FitFailedWarning]
        results = search.cv_results_
        # A fold whose validation rows hold one class has no AUC; the others still count.
        splits = np.array([results[f"split{i}_test_score"] for i in range(cv.get_n_splits())])
        for index, params in enumerate(results["params"]):
            scores = splits[:, index]
            defined = scores[np.isfinite(scores)]
            tried.append(params)
            means.append(float(defined.mean()) if defined.size else float("nan"))
            stds.append(float(defined.std()) if defined.size else float("nan"))
    if fit_failures and np.isnan(means).all():
        raise CandidateError(f"every cross-validation fit failed: {first_fit_error(fit_failures)}")
    best = int(np.nanargmax(np.where(np.isnan(means), -np.inf, means)))
    sign = 1.0 if evaluation.higher_is_better(metric) else -1.0
    chosen = unrouted(tried[best])
    result = CandidateResult(
        name=candidate.name,
        estimator=candidate.estimator,
        params={**candidate.params, **chosen},
        cv_score=sign * means[best],
        cv_std=stds[best],
        fit_seconds=time.perf_counter() - started,
        model=None,
        tried=len(tried),
        planned=len(settings),
        unfitted=pipeline,
        setting=tried[best],
        treatments=treatment_effects(tried, means, sign),
    )
    if fit_best:
        result.fit(X, y)
    return result


def treatment_effects(tried: list[dict], means: list[float], sign: float) -> dict[str, str]:
    """For each treatment the search switched, the best cross-validated score with it on
    and with it off, in the metric's own direction: what it did to the score."""
    effects = {}
    for option in PIPELINE_OPTIONS:
        best: dict[bool, float] = {}
        for setting, mean in zip(tried, means, strict=True):
            params = unrouted(setting)
            if option not in params or not math.isfinite(mean):
                continue
            on = bool(params[option])
            best[on] = max(best.get(on, -math.inf), mean)
        if len(best) == 2:
            effects[option] = f"on {sign * best[True]:.4g}, off {sign * best[False]:.4g}"
    return effects


@contextlib.contextmanager
def search_workers(
    n_jobs: int, dask_scheduler: str | None = None, connect_seconds: float = 30
) -> Iterator[int]:
    """Where the search's cross-validation fits run; yields how many run at once.

    Without a scheduler: ``n_jobs`` local processes, released afterwards. With one:
    joblib's Dask backend sends every fit to the cluster's workers, and a round is as
    wide as their threads, so the search grows with the cluster.
    """
    if dask_scheduler is None:
        try:
            yield n_jobs
        finally:
            release_search_workers(n_jobs)
        return
    import joblib

    try:
        from distributed import Client
    except ImportError as error:
        raise ImportError(
            "training.dask_scheduler needs the distributed package: "
            "pip install 'ml_pipeline[cluster]'"
        ) from error
    try:
        client = Client(dask_scheduler, timeout=connect_seconds, set_as_default=False)
    except OSError as error:
        raise ConnectionError(
            f"training.dask_scheduler: no Dask scheduler answers at {dask_scheduler} ({error})"
        ) from error
    with client:
        width = sum(client.nthreads().values())
        if width == 0:
            raise RuntimeError(
                f"training.dask_scheduler: the Dask cluster at {dask_scheduler} has no workers"
            )
        with joblib.parallel_config(backend="dask", client=client):
            yield width


def release_search_workers(n_jobs: int) -> None:
    """Stop joblib's worker processes once tuning with ``n_jobs`` workers is done.

    joblib keeps them for minutes in case more work comes, each holding its imports and
    a copy of the training sample (300-400 MB at 200,000 rows) while validation, export
    and the smoke test's own process run. With one job the search started none, and
    asking for the executor would start its resource tracker just to stop it.
    """
    if n_jobs == 1:
        return
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def pick_challenger(results: list[CandidateResult], higher_better: bool) -> CandidateResult:
    """The best cross-validated candidate; ties go to the one listed first in config."""
    return ranked(results, higher_better)[0]


def ranked(results: list[CandidateResult], higher_better: bool) -> list[CandidateResult]:
    """Best cross-validated first, ties in config order, undefined scores last."""

    def key(pair: tuple[int, CandidateResult]) -> tuple[bool, float, int]:
        score = pair[1].cv_score
        undefined = not math.isfinite(score)
        return undefined, 0.0 if undefined else (-score if higher_better else score), pair[0]

    return [result for _, result in sorted(enumerate(results), key=key)]
