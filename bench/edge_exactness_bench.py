"""What edge-exact candidates cost: the same datasets trained with and without
``deploy.onnx``.

With ``deploy.onnx: true`` every candidate is fitted in the form ONNX reproduces
exactly (gradient boosting without native categories, trees on float32 inputs) and a
candidate that does not convert exactly cannot win. For the demo and two datasets of
the bring-your-own-data corpus (one with text categories and gaps), the first 80% of
rows are landed and ``ml-pipeline run`` trains from config alone, once ``native`` and
once ``edge_exact``. Recorded per run: the challenger, its holdout metrics, the
deployed model's score on the withheld 20%, whether ``model.onnx`` was published, the
largest gap between ``model.onnx`` (the edge scorer) and the pyfunc model on the
withheld rows, and the run's wall time (one run each: the metrics are deterministic,
the time is indicative only).

    python bench/edge_exactness_bench.py [--datasets bike_demo,flights_hourly]

Writes ``bench/results/edge_exactness.json``; ``python bench/render.py`` renders its
table in ``docs/benchmarks.md``.
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

from bench.quality_bench import DEMO
from bench.results import checked_out_commit, machine, write_result
from ml_pipeline.core.edge_parity import as_csv_columns
from ml_pipeline.edge.scorer import EdgeModel
from ml_pipeline_tests.corpus import CORPUS, CorpusDataset, dataset_section, land, score

DATASETS = {d.name: d for d in [DEMO, *CORPUS]}
DEFAULT = ["bike_demo", "flights_hourly", "breast_cancer_gaps"]
VARIANTS = {"native": {"onnx": False}, "edge_exact": {"onnx": True}}


def _edge_gap(artifact: Path, withheld: pd.DataFrame, target: str) -> dict[str, object]:
    """The largest difference between model.onnx and the pyfunc model on the withheld
    rows, and how many labels differ for a classifier."""
    inputs = withheld.drop(columns=[target])
    served = mlflow.pyfunc.load_model(str(artifact)).predict(inputs)
    edge = EdgeModel(artifact / "model.onnx").score(as_csv_columns(inputs))["prediction"]
    if np.asarray(served).dtype.kind in "fi" and edge.dtype.kind == "f":
        gap = np.abs(np.asarray(served, float) - edge.astype(float))
        return {"max_gap": float(gap.max()), "labels_differing": None}
    differing = int((np.asarray(served).astype(str) != edge.astype(str)).sum())
    return {"max_gap": None, "labels_differing": differing}


def run_one(dataset: CorpusDataset, variant: str, folder: Path) -> dict[str, object]:
    withheld_path = folder / "withheld.csv"
    land(dataset, folder / "landing", withheld_path)
    document = {"dataset": dataset_section(dataset), "deploy": VARIANTS[variant]}
    config = folder / "pipeline.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    started = time.perf_counter()
    command = [sys.executable, "-m", "ml_pipeline.commands.cli", "run", "--json"]
    done = subprocess.run(
        [*command, "--config", str(config)], cwd=folder, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{dataset.name}/{variant}: run failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    withheld = pd.read_csv(withheld_path)
    artifact = Path(summary["artifact_path"])
    predicted = mlflow.pyfunc.load_model(str(artifact)).predict(
        withheld.drop(columns=[dataset.target])
    )
    published = (artifact / "model.onnx").is_file()
    left_out = [
        row["candidate"]
        for row in summary["training"]["candidates"]
        if "not exact as ONNX" in str(row.get("error", ""))
    ]
    return {
        "dataset": dataset.name,
        "variant": variant,
        "metric": dataset.metric,
        "challenger": summary["training"]["challenger"],
        "holdout": summary["validation"]["challenger"],
        "withheld_score": score(dataset, withheld[dataset.target], predicted),
        "onnx_published": published,
        "edge_note": summary["edge"],
        "left_out": left_out,
        **(_edge_gap(artifact, withheld, dataset.target) if published else {}),
        "run_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DEFAULT))
    args = parser.parse_args()
    runs = []
    for name in args.datasets.split(","):
        for variant in VARIANTS:
            with tempfile.TemporaryDirectory(prefix=f"edge_{name}_{variant}_") as folder:
                result = run_one(DATASETS[name], variant, Path(folder))
            print(json.dumps(result), flush=True)
            runs.append(result)
    write_result(
        "edge_exactness",
        {
            "machine": machine(),
            "commit": checked_out_commit(),
            "command": "python bench/edge_exactness_bench.py",
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
