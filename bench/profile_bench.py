"""Time the `data_profile` asset's work on a wide sample, for either task.

    python bench/profile_bench.py [--rows 10000] [--repeats 3] [--label NAME]

Builds a table of ``--rows`` rows and 20 columns shaped like client data: continuous
heavy-tailed numbers (thousands of distinct values), counts, text categories with many
levels, a few gaps. Times ``build_profile`` (statistics, relations, correlations and
every plot) with a regression target and with a 3%-positive class target; reports the
median of ``--repeats``. Results are kept per ``--label`` (the code measured) in
``bench/results/profile.json``, so two versions of the code sit side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import checked_out_commit, machine, read_result, write_result
from ml_pipeline.core.data.profiling import build_profile


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(10):
        columns[f"amount_{i}"] = np.round(rng.lognormal(3, 1.5, rows), 2)
    for i in range(4):
        columns[f"count_{i}"] = rng.poisson(3 + i, rows).astype(float)
    for i in range(4):
        levels = [f"level_{j}" for j in range(5 * 10**i if i < 3 else 300)]
        columns[f"category_{i}"] = rng.choice(levels, rows)
    frame = pd.DataFrame(columns)
    frame.loc[rng.random(rows) < 0.03, "amount_0"] = np.nan
    signal = np.log(frame["amount_1"]) + frame["count_0"] - 0.5 * np.log(frame["amount_2"])
    frame["target_value"] = signal + rng.normal(0, 1, rows)
    rare = signal > np.quantile(signal, 0.97)
    frame["target_class"] = np.where(rare, "default", "paid")
    return frame


def time_profile(frame: pd.DataFrame, task: str) -> float:
    target = "target_value" if task == "regression" else "target_class"
    other = "target_class" if task == "regression" else "target_value"
    data = frame.drop(columns=[other])
    started = time.perf_counter()
    build_profile(data, {}, target, task, max_plotted_columns=24)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="current")
    args = parser.parse_args()
    frame = table(args.rows)
    rows = []
    for task in ("regression", "classification"):
        seconds = [time_profile(frame, task) for _ in range(args.repeats)]
        rows.append(
            {
                "task": task,
                "rows": args.rows,
                "columns": frame.shape[1] - 1,
                "median_seconds": round(statistics.median(seconds), 2),
                "seconds": [round(s, 2) for s in seconds],
            }
        )
        print(task, rows[-1]["median_seconds"], flush=True)
    data = read_result("profile") or {"runs": {}}
    data["runs"][args.label] = {"commit": checked_out_commit(), "rows": rows}
    data["machine"] = machine()
    data["command"] = "python bench/profile_bench.py --label NAME"
    write_result("profile", data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
