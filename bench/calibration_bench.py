"""Does calibrating the classifiers' probabilities pay? Log loss with and without.

For each classification dataset of the corpus, the project's own pipelines (feature
step, encoding, estimator) are fitted on the landed 80% of rows, with and without
``CalibratedClassifierCV`` (sigmoid, 3 folds) around them, and scored on the withheld
20%: log loss (lower is better) and macro F1. Results go to
``bench/results/calibration.json``; ``python bench/render.py`` renders the table.

    python bench/calibration_bench.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import f1_score, log_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import machine, write_result
from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.model.training import build_pipeline
from ml_pipeline_tests.corpus import CORPUS, land

ESTIMATORS = {
    "linear": {},
    "random_forest": {"n_estimators": 100, "max_samples": 0.5},
    "hist_gradient_boosting": {"max_iter": 300, "early_stopping": True, "n_iter_no_change": 20},
}


def measure(dataset, landed: pd.DataFrame, withheld: pd.DataFrame) -> list[dict[str, object]]:
    target, stamp = dataset.target, dataset.timestamp_column
    X, y = landed.drop(columns=[target]), landed[target]
    Xw, yw = withheld.drop(columns=[target]), withheld[target]
    rows = []
    for estimator, params in ESTIMATORS.items():
        candidate = CandidateConfig(name=estimator, estimator=estimator, params=params)
        plain = build_pipeline(candidate, "classification", X, stamp, [], 0).fit(X, y)
        calibrated = CalibratedClassifierCV(
            build_pipeline(candidate, "classification", X, stamp, [], 0), method="sigmoid", cv=3
        ).fit(X, y)
        for name, model in (("plain", plain), ("calibrated", calibrated)):
            rows.append(
                {
                    "dataset": dataset.name,
                    "estimator": estimator,
                    "probabilities": name,
                    "log_loss": float(log_loss(yw, model.predict_proba(Xw), labels=model.classes_)),
                    "f1_macro": float(f1_score(yw, model.predict(Xw), average="macro")),
                }
            )
    return rows


def main() -> None:
    rows = []
    for dataset in (d for d in CORPUS if d.task == "classification"):
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            landed = land(dataset, folder / "landing", folder / "withheld.csv")
            withheld = pd.read_csv(folder / "withheld.csv")
        for row in measure(dataset, landed, withheld):
            print(row, flush=True)
            rows.append(row)
    write_result(
        "calibration",
        {"machine": machine(), "command": "python bench/calibration_bench.py", "rows": rows},
    )


if __name__ == "__main__":
    main()
