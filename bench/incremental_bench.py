"""Incremental cost: ingesting one new file, and retraining, with 30 and with 300 partitions.

    .venv/bin/python bench/incremental_bench.py --history 30 300 --repeats 5

A fresh project lands that many demo daily files and ingests them
(`ml-pipeline run`'s ingest step). Each repeat then lands the next day's file and times
what `ml-pipeline run` does for it before training, in one warm process: scan the
landing folder, plan against the instance's history, register the partition, and run
its ingest job (read, clean, features, their checks). Last, the training job runs once
per history size with the sample cap below both histories, so its cost should not grow
with them. One history size per process: MLflow keeps per-process state about the
tracking store, which must not outlive a project folder. Writes
``bench/results/incremental.json``.
"""

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e_bench import write_config
from bench.measure import in_fresh_process
from bench.results import machine, write_result
from ml_pipeline.commands.execution import QUIET, ingest_landed_files
from ml_pipeline.commands.summary import RunSummary
from ml_pipeline.config import load_config
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.definitions import build_definitions
from ml_pipeline.defs.jobs import TRAINING_JOB
from ml_pipeline.runtime.instance import project_instance

START = dt.date(2024, 1, 1)


def land(config, first_day: int, days: int, rows: int) -> None:
    spec = DemoSpec(batches=days, rows_per_batch=rows, start=START + dt.timedelta(first_day))
    write_demo_data(spec, config.dataset.landing_dir, config.data_dir / "demo_truth")


def ingest(config, instance) -> tuple[float, RunSummary]:
    summary = RunSummary()
    started = time.perf_counter()
    ingest_landed_files(config, instance, summary, reingest=False)
    return time.perf_counter() - started, summary


def measure(history: int, rows: int, repeats: int, sample_rows: int, folder: Path) -> dict:
    path = write_config(
        folder,
        folder / "landing",
        folder / "data",
        sensor={"settle_seconds": 0},
        training={"sample_rows": sample_rows},
    )
    config = load_config(path)
    instance = project_instance(config)
    land(config, 0, history, rows)
    seconds, summary = ingest(config, instance)
    assert len(summary.ingested) == history, summary.failed
    print(f"{history} partitions ingested in {seconds:.0f} s", flush=True)
    one_file = []
    # The first new file also pays this process's first Great Expectations import
    # (the history was ingested by worker processes): it is left out.
    for repeat in range(repeats + 1):
        land(config, history + repeat, 1, rows)
        seconds, summary = ingest(config, instance)
        assert len(summary.ingested) == 1, summary
        if repeat:
            one_file.append(seconds)
    job = build_definitions(config).resolve_job_def(TRAINING_JOB)
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    training = time.perf_counter() - started
    outcome = result.output_for_node("trained_model")
    return {
        "history": history,
        "one_file_seconds": [round(s, 3) for s in one_file],
        "one_file_median": round(statistics.median(one_file), 3),
        "training_seconds": round(training, 1),
        "train_rows": outcome.train_rows,
        "history_rows": sum(outcome.partition_rows.values()),
    }


def measure_in_this_process(arguments: str) -> None:
    history, rows, repeats, sample_rows = json.loads(arguments)
    with tempfile.TemporaryDirectory(prefix="incremental-bench-") as scratch:
        result = measure(history, rows, repeats, sample_rows, Path(scratch))
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs="+", default=[30, 300])
    parser.add_argument("--rows-per-batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample-rows", type=int, default=20_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure_in_this_process(args.one)
        return
    histories = []
    for history in args.history:
        arguments = [history, args.rows_per_batch, args.repeats, args.sample_rows]
        histories.append(in_fresh_process(__file__, json.dumps(arguments)))
        print(json.dumps(histories[-1]), flush=True)
    write_result(
        "incremental",
        {
            "machine": machine(),
            "command": "python bench/incremental_bench.py --history "
            + " ".join(str(h) for h in args.history)
            + f" --repeats {args.repeats}",
            "rows_per_file": args.rows_per_batch,
            "sample_rows": args.sample_rows,
            "histories": histories,
        },
    )


if __name__ == "__main__":
    main()
