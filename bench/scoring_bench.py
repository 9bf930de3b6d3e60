"""Batch scoring throughput of one worker: rows per second of a batch_predictions run.

    python bench/scoring_bench.py [--rows 200000] [--repeats 3]

Trains the demo champion once (``ml-pipeline run`` on 20 demo days), writes one scoring
file of ``--rows`` rows (demo rows without the target, faults included), then in a fresh
process per repeat materializes its ``batch_predictions`` partition, the step a worker
runs: read the CSV, download and load the champion, score, write Parquet. Beside it, in
the same process, the model's bare ``predict`` on the same rows already in memory (those
it can read: the demo's faults include text in numeric columns).
Writes ``bench/results/scoring.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import in_fresh_process, trained_demo_project
from bench.results import machine, write_result

PARTITION = "to_score"


def score_once(config_path: str) -> None:
    """In the measured process: one batch_predictions materialization, then bare predict."""
    import dagster as dg
    import pandas as pd

    from ml_pipeline.config import load_config
    from ml_pipeline.core.deploy import batch_scoring
    from ml_pipeline.defs.assets.scoring import batch_predictions
    from ml_pipeline.defs.partitions import scoring_files
    from ml_pipeline.defs.resources import mlflow_store, resources_for

    config = load_config(config_path)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scoring_files.name, [PARTITION])
    started = time.perf_counter()
    result = dg.materialize(
        [batch_predictions],
        partition_key=PARTITION,
        instance=instance,
        resources=resources_for(config),
    )
    run_seconds = time.perf_counter() - started
    metadata = result.asset_materializations_for_node("batch_predictions")[0].metadata
    rows = metadata["dagster/row_count"].value
    store = mlflow_store(config)
    model = batch_scoring.load_version(store, metadata["model_version"].value)
    frame = pd.read_csv(config.scoring_dir / f"{PARTITION}.csv", dtype=str)
    frame = frame[batch_scoring.unreadable_rows(frame, model).isna().to_numpy()]
    started = time.perf_counter()
    model.predict(frame)
    predict_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "run_seconds": run_seconds,
                "asset_seconds": metadata["seconds"].value,
                "stages": metadata["seconds_by_stage"].value,
                "predict_seconds": predict_seconds,
            }
        )
    )


def prepare(root: Path, rows: int) -> Path:
    config = trained_demo_project(root, batch_scoring={"folder": "scoring"})
    import pandas as pd

    from ml_pipeline.core.data.demo_data import DemoSpec, generate_batch

    per_batch = 2400
    spec = DemoSpec(batches=-(-rows // per_batch), rows_per_batch=per_batch)
    frames = [generate_batch(spec, index)[0] for index in range(spec.batches)]
    table = pd.concat(frames, ignore_index=True).head(rows).drop(columns=["count"])
    (root / "scoring").mkdir()
    table.to_csv(root / "scoring" / f"{PARTITION}.csv", index=False)
    return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        score_once(args.one)
        return
    with tempfile.TemporaryDirectory(prefix="scoring-") as scratch:
        print("training the demo champion ...", flush=True)
        config = prepare(Path(scratch), args.rows)
        samples = []
        for repeat in range(args.repeats):
            sample = in_fresh_process(__file__, str(config))
            print(f"repeat {repeat + 1}: {sample}", flush=True)
            samples.append(sample)
    rows = samples[0]["rows"]

    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    write_result(
        "scoring",
        {
            "machine": machine(),
            "command": f"python bench/scoring_bench.py --rows {args.rows} --repeats {args.repeats}",
            "rows": rows,
            "samples": samples,
            "median_run_seconds": round(median("run_seconds"), 2),
            "median_asset_seconds": round(median("asset_seconds"), 2),
            "median_predict_seconds": round(median("predict_seconds"), 2),
            "rows_per_second_run": round(rows / median("run_seconds")),
            "rows_per_second_predict": round(rows / median("predict_seconds")),
        },
    )


if __name__ == "__main__":
    main()
