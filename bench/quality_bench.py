"""Model quality on real datasets: the deployed model against a default and a tuned HGB.

For every dataset of the bring-your-own-data corpus (and the demo), the first 80% of
rows are landed as CSV batches and the newest (or a seeded random) 20% is withheld.
``ml-pipeline run`` trains and deploys from config alone; then three models are
scored on the withheld rows, as a client sends them:

- the deployed model, loaded with ``mlflow.pyfunc.load_model``;
- a default ``HistGradientBoosting*`` fitted on all landed rows (five lines of
  scikit-learn);
- a hand-tuned ``HistGradientBoosting*``: a small grid, cross-validated on the landed
  rows, refit on all of them.

Each variant is a config: ``before`` restores the previous defaults (no refit, the
three-point grids, no class weights, values treated at ingest), ``treated_at_ingest``
is today's training with the earlier cleaning (statistical outliers set missing, gaps
filled with each batch's median at ingest), ``after`` is today's. Results go to
``bench/results/quality.json``; ``python bench/render.py`` renders the table in
``docs/benchmarks.md`` from it.

    python bench/quality_bench.py [--datasets wine,diabetes] [--variants before,after]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The project's modules are imported before any model is loaded: loading puts the
# model's shipped copy of the feature code on the path, under the package's own name.
from bench.results import machine, read_result, write_result
from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch
from ml_pipeline.core.model.bootstrap import Predictions, gain_bounds
from ml_pipeline_tests.corpus import (
    CORPUS,
    LARGE_CORPUS,
    CorpusDataset,
    dataset_section,
    land,
    reference_predictions,
    score,
)

BEFORE = {
    "refit_on_all_data": False,
    "try_balanced_class_weights": False,
    "reference_model": False,
    "search_iterations": 4,
    "candidates": [
        {"name": "linear", "estimator": "linear", "search": {"alpha": [0.1, 1.0, 10.0]}},
        {
            "name": "random_forest",
            "estimator": "random_forest",
            "params": {"n_estimators": 100, "max_samples": 0.5},
            "search": {"max_depth": [8, 16, None], "min_samples_leaf": [1, 5]},
        },
        {
            "name": "hist_gradient_boosting",
            "estimator": "hist_gradient_boosting",
            "search": {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31, 63]},
        },
    ],
}
# Values treated at ingest, outside the model, as the cleaning defaults did before:
# statistical outliers set missing and every gap filled with its batch's median.
INGEST_TREATMENTS = {"missing": "impute", "outliers": {"treatment": "null"}}
VARIANTS = {
    "before": {"training": BEFORE, "cleaning": INGEST_TREATMENTS},
    "treated_at_ingest": {"cleaning": INGEST_TREATMENTS},
    "after": {},
}


def _demo() -> pd.DataFrame:
    """Thirty days of the demo's hourly bike rentals, without injected faults or the
    columns that add up to the target."""
    spec = DemoSpec(faults=FaultRates(0, 0, 0, 0))
    frame = pd.concat([generate_batch(spec, day)[0] for day in range(30)], ignore_index=True)
    return frame.drop(columns=["record_id", "casual", "registered"])


DEMO = CorpusDataset("bike_demo", "regression", "count", _demo, "timestamp")
DATASETS = [*CORPUS, DEMO, *LARGE_CORPUS]


def _inputs(dataset: CorpusDataset, frame: pd.DataFrame) -> pd.DataFrame:
    X = frame.drop(columns=[c for c in (dataset.target, dataset.timestamp_column) if c])
    text = X.select_dtypes(exclude="number").columns
    return X.astype({c: "category" for c in text})


def tuned_score(dataset: CorpusDataset, landed: pd.DataFrame, withheld: pd.DataFrame) -> float:
    """A person's few minutes of tuning: a small grid over the boosting knobs that matter."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import GridSearchCV

    regression = dataset.task == "regression"
    estimator = (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
        categorical_features="from_dtype", random_state=0, max_iter=500
    )
    grid = {
        "learning_rate": [0.03, 0.1],
        "max_leaf_nodes": [7, 31],
        "min_samples_leaf": [5, 20],
        "l2_regularization": [0.0, 1.0],
    }
    search = GridSearchCV(
        estimator, grid, scoring="r2" if regression else "f1_macro", cv=3, n_jobs=2
    )
    search.fit(_inputs(dataset, landed), landed[dataset.target])
    predicted = search.predict(_inputs(dataset, withheld))
    return score(dataset, withheld[dataset.target], predicted)


def gap_interval(
    dataset: CorpusDataset, truth: pd.Series, deployed: object, reference: object
) -> tuple[float, float]:
    """The 95% paired-bootstrap interval of deployed minus default HGB on the same rows:
    on a few hundred withheld rows one label more or less moves macro F1 by about 0.01."""
    mine, theirs = Predictions(np.asarray(deployed)), Predictions(np.asarray(reference))
    low = gain_bounds(truth, mine, theirs, dataset.metric, 0.975, 2000, seed=0)
    high = -gain_bounds(truth, theirs, mine, dataset.metric, 0.975, 2000, seed=0)
    return low, high


def run_one(dataset: CorpusDataset, variant: str, folder: Path) -> dict[str, object]:
    withheld_path = folder / "withheld.csv"
    landed = land(dataset, folder / "landing", withheld_path)
    section = dataset_section(dataset)
    config = folder / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"dataset": section, **VARIANTS[variant]}), encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_pipeline.commands.cli",
            "run",
            "--json",
            "--config",
            str(config),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{dataset.name}/{variant}: run failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    withheld = pd.read_csv(withheld_path)
    truth = withheld[dataset.target]
    reference = reference_predictions(dataset, landed, withheld)
    deployed = gap = None
    if summary["artifact_path"]:
        model = mlflow.pyfunc.load_model(summary["artifact_path"])
        predicted = model.predict(withheld.drop(columns=[dataset.target]))
        deployed = score(dataset, truth, predicted)
        gap = gap_interval(dataset, truth, predicted, reference)
    return {
        "dataset": dataset.name,
        "variant": variant,
        "metric": dataset.metric,
        "landed_rows": len(landed),
        "withheld_rows": len(withheld),
        "deployed": deployed,
        "decision": summary["validation"]["decision"]["reason"],
        "challenger": summary["training"]["challenger"],
        "default_hgb": score(dataset, truth, reference),
        "gap_interval": gap,
        "tuned_hgb": tuned_score(dataset, landed, withheld),
        "run_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(d.name for d in DATASETS))
    parser.add_argument("--variants", default="before,after")
    args = parser.parse_args()
    chosen = [d for d in DATASETS if d.name in args.datasets.split(",")]
    command = "python bench/quality_bench.py"
    # Rows already measured for other datasets or variants are kept: one dataset can be
    # measured again without redoing the rest.
    rows = (read_result("quality") or {}).get("rows", [])
    for dataset in chosen:
        for variant in args.variants.split(","):
            with tempfile.TemporaryDirectory() as scratch:
                row = run_one(dataset, variant, Path(scratch))
            print(json.dumps(row), flush=True)
            rows = [r for r in rows if (r["dataset"], r["variant"]) != (dataset.name, variant)]
            rows.append(row)
            order = {d.name: i for i, d in enumerate(DATASETS)}
            rank = {name: i for i, name in enumerate(VARIANTS)}
            rows.sort(key=lambda r: (order.get(r["dataset"], 99), rank.get(r["variant"], 99)))
            write_result("quality", {"machine": machine(), "command": command, "rows": rows})


if __name__ == "__main__":
    main()
