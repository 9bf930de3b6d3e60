"""Dagster's per-run bookkeeping on a sqlite instance against a Postgres instance.

    python bench/bookkeeping_bench.py [--files 100] [--rows 48] [--repeats 3]

Lands ``--files`` small demo files (``--rows`` rows each) in a fresh project per
measurement and ingests them the way ``ml-pipeline run`` does: one Dagster run per
file (three assets and their checks), one file at a time (``ingest.workers: 1``), so the
time per file is the run's work plus the instance's bookkeeping. The only difference
between the two sides is ``dagster.postgres_url`` (a scratch database on the machine's
PostgreSQL, dropped afterwards). The sides alternate in each repeat; each measurement is
a fresh process. Writes ``bench/results/bookkeeping.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import in_fresh_process
from bench.results import machine, write_result
from ml_pipeline_tests.servers import scratch_database

ROOT = Path(__file__).resolve().parents[1]


def project(folder: Path, files: list[Path], postgres_url: str | None) -> Path:
    document = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    document["dataset"]["landing_dir"] = "landing"
    document["storage"] = {"data_dir": "data"}
    document["ingest"] = {"workers": 1}
    document["sensor"] = {"settle_seconds": 0}
    if postgres_url:
        document["dagster"] = {"postgres_url": postgres_url}
    (folder / "landing").mkdir(parents=True)
    for path in files:
        shutil.copy(path, folder / "landing" / path.name)
    config = folder / "pipeline.yaml"
    config.write_text(yaml.safe_dump(document))
    return config


def ingest_once(config_path: str) -> None:
    """In the measured process: ingest every landed file, print seconds and run count."""
    import time

    from ml_pipeline.commands.execution import ingest_landed_files
    from ml_pipeline.commands.project import open_project
    from ml_pipeline.commands.summary import RunSummary
    from ml_pipeline.config import load_config

    config = load_config(config_path)
    summary = RunSummary()
    with open_project(config, "bench", print) as instance:
        started = time.perf_counter()
        ingest_landed_files(config, instance, summary, reingest=False)
        seconds = time.perf_counter() - started
        runs = len(instance.get_run_records())
        storage = type(instance.run_storage).__name__
    assert not summary.failed, summary.failed
    print(json.dumps({"seconds": seconds, "runs": runs, "storage": storage}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        ingest_once(args.one)
        return
    from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data

    samples: dict[str, list[dict[str, object]]] = {"sqlite": [], "postgres": []}
    with tempfile.TemporaryDirectory(prefix="bookkeeping-") as scratch:
        root = Path(scratch)
        spec = DemoSpec(batches=args.files, rows_per_batch=args.rows)
        files = write_demo_data(spec, root / "demo", root / "truth")
        for repeat in range(args.repeats):
            order = ["sqlite", "postgres"] if repeat % 2 == 0 else ["postgres", "sqlite"]
            for side in order:
                folder = root / f"{side}-{repeat}"
                with contextlib.ExitStack() as stack:
                    url = (
                        stack.enter_context(scratch_database("bench"))
                        if side == "postgres"
                        else None
                    )
                    result = in_fresh_process(__file__, str(project(folder, files, url)))
                shutil.rmtree(folder)
                assert result["runs"] == args.files, result
                print(f"repeat {repeat + 1} {side}: {result['seconds']:.1f} s", flush=True)
                samples[side].append(result)
    sides = []
    for side, results in samples.items():
        seconds = [r["seconds"] for r in results]
        sides.append(
            {
                "instance": side,
                "storage": results[0]["storage"],
                "seconds": [round(s, 2) for s in seconds],
                "median_seconds": round(statistics.median(seconds), 2),
                "per_file_seconds": round(statistics.median(seconds) / args.files, 3),
            }
        )
    write_result(
        "bookkeeping",
        {
            "machine": machine(),
            "command": f"python bench/bookkeeping_bench.py --files {args.files} "
            f"--rows {args.rows} --repeats {args.repeats}",
            "files": args.files,
            "rows_per_file": args.rows,
            "sides": sides,
        },
    )


if __name__ == "__main__":
    main()
