"""Ingest runs in one long-lived process: time per run and resident memory, with a full
garbage collection after every run against one only above ``COLLECT_ABOVE_BYTES``
resident.

    python bench/ingest_memory_bench.py [--files 12] [--rows 10000 100000]

For each file size, demo files are landed once; then, per rule, a fresh process (the way
an ingest worker of ``ml-pipeline run`` lives) opens a new project instance and ingests
every file one run at a time, recording each run's seconds and the process's resident
memory after it. Writes ``bench/results/ingest_memory.json``.
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

from bench.e2e_bench import land, write_config
from bench.measure import in_fresh_process
from bench.results import machine, write_result
from ml_pipeline.core.memory import COLLECT_ABOVE_BYTES

# 0 collects after every run, as ingest did before the threshold.
RULES = {"collect after every run": 0, "collect above the resident threshold": None}


def ingest_all(argument: str) -> None:
    """In the measured process: every landed file, one ingest run each, one rule."""
    from ml_pipeline.commands.execution import _ingest_one
    from ml_pipeline.config import load_config
    from ml_pipeline.core import memory
    from ml_pipeline.definitions import build_definitions
    from ml_pipeline.defs.jobs import INGEST_JOB
    from ml_pipeline.defs.partitions import landed_files
    from ml_pipeline.runtime.instance import project_instance

    config_path, threshold = json.loads(argument)
    if threshold is not None:
        memory.COLLECT_ABOVE_BYTES = threshold
    config = load_config(config_path)
    instance = project_instance(config)
    keys = sorted(path.stem for path in config.dataset.landing_dir.iterdir())
    instance.add_dynamic_partitions(landed_files.name, keys)
    job = build_definitions(config).resolve_job_def(INGEST_JOB)
    seconds, resident = [], []
    for key in keys:
        started = time.perf_counter()
        error, _ = _ingest_one(job, instance, key)
        if error:
            raise SystemExit(f"{key}: {error}")
        seconds.append(round(time.perf_counter() - started, 3))
        resident.append(round(memory.resident_bytes() / 2**20))
    print(json.dumps({"seconds": seconds, "resident_mib": resident}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        ingest_all(args.one)
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="ingest-memory-bench-") as scratch:
        for rows in args.rows:
            folder = Path(scratch) / f"rows-{rows}"
            folder.mkdir()
            landing = land(folder, rows * args.files, args.files, "csv")
            for index, (rule, threshold) in enumerate(RULES.items()):
                run_config = write_config(folder, landing, folder / f"data-{index}")
                measured = in_fresh_process(__file__, json.dumps([str(run_config), threshold]))
                runs.append({"rows_per_file": rows, "rule": rule, **measured})
                print(rows, rule, statistics.median(measured["seconds"]), flush=True)
    write_result(
        "ingest_memory",
        {
            "machine": machine(),
            "threshold_mib": COLLECT_ABOVE_BYTES // 2**20,
            "command": "python bench/ingest_memory_bench.py --files "
            f"{args.files} --rows {' '.join(str(r) for r in args.rows)}",
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
