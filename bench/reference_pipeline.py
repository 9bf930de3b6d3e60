"""The reference for the end-to-end benchmark: the same work as ``ml-pipeline run``, no Dagster.

    python bench/reference_pipeline.py --config path/to/pipeline.yaml

What a data scientist would write by hand with the project's own functions: read every
landed file, clean it and build its features, keep the whole history in memory, split
off the latest rows as the holdout, tune every configured candidate on a sample of the
rest, and score the best on the holdout. No orchestration, no Great Expectations, no
MLflow, nothing written to disk. Prints one JSON object with its timings and scores.
"""

import argparse
import json
import time

import pandas as pd

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.contract import contract_from_config, infer_contract
from ml_pipeline.core.data.feature_table import build_feature_table, raw_input_columns
from ml_pipeline.core.data.intake import conform_to_contract, read_landed_file
from ml_pipeline.core.data.landing import scan_landing
from ml_pipeline.core.model import evaluation, training
from ml_pipeline.core.model.splitting import HoldoutSpec, holdout_mask, time_holdout


def feature_history(config: PipelineConfig) -> pd.DataFrame:
    dataset, threshold = config.dataset, config.cleaning.numeric_parse_threshold
    contract = contract_from_config(dataset)
    tables = []
    for landed in scan_landing(dataset.landing_dir, dataset.patterns):
        intake = read_landed_file(landed.path, dataset)
        if contract is None:  # as ingest does: the first file sets the schema
            contract = infer_contract(intake.frame, dataset, threshold, landed.path.name)
        raw = conform_to_contract(landed.path, intake, contract, threshold).frame
        cleaned, _report = clean_batch(raw, dataset, config.cleaning, contract.kinds())
        tables.append(
            build_feature_table(
                cleaned, dataset.target, dataset.timestamp_column, dataset.ignored_columns
            )
        )
    return pd.concat(tables, ignore_index=True)


def holdout_spec(history: pd.DataFrame, config: PipelineConfig) -> HoldoutSpec:
    dataset, fraction = config.dataset, config.holdout.fraction
    if dataset.timestamp_column is None:
        return HoldoutSpec(kind="hash", fraction=fraction, hash_columns=tuple(dataset.id_columns))
    column = dataset.timestamp_column
    return time_holdout(history[column].dropna().to_numpy(dtype="datetime64[ns]"), fraction, column)


def train_and_score(
    history: pd.DataFrame, config: PipelineConfig, fit_winner_only: bool = False
) -> dict[str, object]:
    dataset, settings = config.dataset, config.training
    columns = [*raw_input_columns(list(history.columns), dataset.target), dataset.target]
    mask = holdout_mask(history, holdout_spec(history, config)).to_numpy()
    train, holdout = history.loc[~mask, columns], history.loc[mask, columns]
    seed = settings.random_seed
    train = train.sample(n=min(len(train), settings.sample_rows), random_state=seed)
    holdout = holdout.sample(n=min(len(holdout), config.holdout.max_rows), random_state=seed)
    if dataset.timestamp_column:
        train = train.sort_values(dataset.timestamp_column, kind="stable")
    X, y = train.drop(columns=[dataset.target]), train[dataset.target]
    metric = config.promotion_metric
    results = [
        training.tune_candidate(
            candidate,
            dataset.task,
            X,
            y,
            metric=metric,
            timestamp_column=dataset.timestamp_column,
            ignored_columns=dataset.ignored_columns,
            folds=settings.cv_folds,
            iterations=settings.search_iterations,
            n_jobs=settings.n_jobs,
            seed=seed,
            missing_indicator=config.cleaning.missing == "indicator",
            fit_best=not fit_winner_only,
        )
        for candidate in settings.candidates
    ]
    best = training.pick_challenger(results, evaluation.higher_is_better(metric))
    best.fit(X, y)
    scores = evaluation.score(
        best.model, holdout.drop(columns=[dataset.target]), holdout[dataset.target], dataset.task
    )
    return {
        "challenger": best.name,
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "holdout": scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument(
        "--fit-winner-only",
        action="store_true",
        help="fit only the chosen candidate on the whole sample, as `ml-pipeline run` does "
        "(by default each candidate's best setting is refit, as GridSearchCV's refit does)",
    )
    args = parser.parse_args()
    config = load_config(args.config)
    started = time.perf_counter()
    history = feature_history(config)
    prepared = time.perf_counter()
    outcome = train_and_score(history, config, args.fit_winner_only)
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": len(history),
                "prepare_seconds": round(prepared - started, 2),
                "train_seconds": round(finished - prepared, 2),
                **outcome,
            }
        )
    )


if __name__ == "__main__":
    main()
