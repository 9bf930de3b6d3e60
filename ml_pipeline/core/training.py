"""Candidate pipelines, their tuning by cross-validation, and the challenger."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold, TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.features import FeatureBuilder

# Types skops must be told to trust when loading a pipeline built here; everything
# else in these pipelines is on skops' default list. A test keeps this list exact.
SKOPS_TRUSTED_TYPES = [
    # HistGradientBoosting's own category encoder validates numbers with a partial of
    # check_array; trusting partial admits nothing else, as its function must be trusted too.
    "functools.partial",
    "ml_pipeline.core.features.FeatureBuilder",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
]

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
    "roc_auc": "roc_auc_ovr",
    "log_loss": "neg_log_loss",
}


@dataclass
class CandidateResult:
    name: str
    estimator: str
    params: dict[str, object]
    cv_score: float
    cv_std: float
    fit_seconds: float
    model: Pipeline = field(repr=False)

    def row(self, metric: str) -> dict[str, object]:
        return {
            "candidate": self.name,
            "estimator": self.estimator,
            f"cv_{metric}": round(self.cv_score, 5),
            "cv_std": round(self.cv_std, 5),
            "fit_seconds": round(self.fit_seconds, 2),
            "params": {k: v for k, v in self.params.items()},
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
) -> Pipeline:
    """Raw columns in, prediction out: features, imputation, encoding, estimator."""
    builder = FeatureBuilder(timestamp_column, ignored_columns).fit(X)
    tree = candidate.estimator in TREE_ESTIMATORS
    numeric_steps: list[tuple[str, object]] = [
        ("impute", SimpleImputer(strategy="median", add_indicator=missing_indicator))
    ]
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
    estimator = make_estimator(candidate.estimator, task, candidate.params, seed)
    if candidate.estimator == "hist_gradient_boosting" and builder.categorical_columns_:
        estimator.set_params(categorical_features=list(range(len(builder.categorical_columns_))))
    return Pipeline([("features", builder), ("preprocess", preprocess), ("model", estimator)])


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


def cross_validator(task: str, folds: int, time_ordered: bool, seed: int) -> object:
    if time_ordered:
        return TimeSeriesSplit(n_splits=folds)
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


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
) -> CandidateResult:
    """Randomised search over the candidate's options; the best is refit on all of X.

    X must be in time order when ``timestamp_column`` is set: the folds then always
    validate on rows later than those they train on.
    """
    pipeline = build_pipeline(
        candidate, task, X, timestamp_column, ignored_columns, seed, missing_indicator
    )
    search = RandomizedSearchCV(
        pipeline,
        param_distributions={
            f"model__{k}": v
            for k, v in estimator_params(candidate.estimator, task, candidate.search).items()
        }
        or [{}],
        n_iter=min(iterations, _search_size(candidate.search)),
        scoring=CV_SCORING[metric],
        cv=cross_validator(task, folds, timestamp_column is not None, seed),
        n_jobs=n_jobs,
        random_state=seed,
        refit=True,
        error_score="raise",
    )
    started = time.perf_counter()
    search.fit(X, y)
    elapsed = time.perf_counter() - started
    best = search.best_index_
    sign = -1.0 if CV_SCORING[metric].startswith("neg_") else 1.0
    return CandidateResult(
        name=candidate.name,
        estimator=candidate.estimator,
        params={
            **candidate.params,
            **{k.removeprefix("model__"): v for k, v in search.best_params_.items()},
        },
        cv_score=sign * float(search.cv_results_["mean_test_score"][best]),
        cv_std=float(search.cv_results_["std_test_score"][best]),
        fit_seconds=elapsed,
        model=search.best_estimator_,
    )


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
    ordered = sorted(
        enumerate(results),
        key=lambda pair: (-pair[1].cv_score if higher_better else pair[1].cv_score, pair[0]),
    )
    return ordered[0][1]
