"""Ingest throughput of the production profile with one Celery worker and with two.

    python bench/cluster_ingest_bench.py [--files 40] [--rows 48] [--repeats 3]

Each measurement starts a fresh project on the production profile: a Dagster instance
in a scratch database on the machine's PostgreSQL, `ml-pipeline ui` (webserver and
daemon: the landing sensor and the run queue, four runs at once) and one or two
`ml-pipeline worker` processes on the machine's RabbitMQ. It lands ``--files`` demo files
at once and waits until every ingest run has succeeded. Throughput is files over the
span from the first run's creation to the last run's end, read from the run records.
Retraining is switched off so that only ingest is measured. One and two workers
alternate in each repeat. Nothing else may use the broker meanwhile (the tests do).
Writes ``bench/results/cluster_ingest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import machine, write_result
from ml_pipeline_tests.servers import (
    free_port,
    poll_until,
    running,
    scratch_database,
    wait_for_http,
)

ROOT = Path(__file__).resolve().parents[1]
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def project(folder: Path, postgres_url: str) -> Path:
    document = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    document["dataset"]["landing_dir"] = "landing"
    document["storage"] = {"data_dir": "data"}
    document["sensor"] = {"interval_seconds": 1, "settle_seconds": 0}
    document["retraining"] = {
        "min_new_partitions": 1_000_000,
        "drift_threshold": None,
        "max_model_age_hours": None,
    }
    document["dagster"] = {
        "postgres_url": postgres_url,
        "max_concurrent_runs": 4,
        "executor": "celery",
        "celery": {"broker": BROKER},
    }
    config = folder / "pipeline.yaml"
    folder.mkdir(parents=True)
    config.write_text(yaml.safe_dump(document))
    return config


def ingest_span(config_path: Path, files: int) -> tuple[float, int]:
    """Seconds from the first ingest run's creation to the last one's end, once all
    ``files`` succeeded; and how many steps each worker took."""
    import dagster as dg

    from ml_pipeline.config import load_config

    config = load_config(config_path)
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:

        def finished() -> list | None:
            records = instance.get_run_records(dg.RunsFilter(job_name="ingest_job"))
            failed = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.FAILURE]
            if failed:
                raise RuntimeError(f"ingest run {failed[0].dagster_run.run_id} failed")
            done = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
            return done if len(done) == files else None

        done = poll_until(finished, f"{files} ingest runs", timeout=1800, every=1)
        start = min(r.create_timestamp.timestamp() for r in done)
        end = max(r.end_time for r in done)
        return end - start, len(done)


def measure(root: Path, files: list[Path], workers: int, repeat: int) -> float:
    folder = root / f"w{workers}-{repeat}"
    with contextlib.ExitStack() as stack:
        config = project(folder, stack.enter_context(scratch_database("bench")))
        cli = str(Path(sys.executable).parent / "ml-pipeline")
        port = free_port()
        log = folder / "dagster.log"
        ui = stack.enter_context(
            running([cli, "ui", "--port", str(port), "--config", str(config)], log)
        )
        wait_for_http(f"http://127.0.0.1:{port}/server_info", ui, log, timeout=300)
        for index in range(workers):
            worker_log = folder / f"worker{index}.log"
            stack.enter_context(
                running(
                    [cli, "worker", "--name", f"bench{index}", "--config", str(config)],
                    worker_log,
                )
            )
            poll_until(
                lambda path=worker_log: path.exists() and "ready" in path.read_text(),
                f"worker {index} ready",
                timeout=300,
                every=0.5,
            )
        landing = folder / "landing"
        staging = folder / "staging"
        staging.mkdir()
        landing.mkdir()
        for path in files:
            shutil.copy(path, staging / path.name)
        for path in files:
            (staging / path.name).rename(landing / path.name)
        seconds, _runs = ingest_span(config, len(files))
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data

    samples: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="cluster-ingest-") as scratch:
        root = Path(scratch)
        files = write_demo_data(
            DemoSpec(batches=args.files, rows_per_batch=args.rows), root / "demo", root / "t"
        )
        for repeat in range(args.repeats):
            for workers in (1, 2) if repeat % 2 == 0 else (2, 1):
                started = time.monotonic()
                seconds = measure(root, files, workers, repeat)
                samples[workers].append(seconds)
                print(
                    f"repeat {repeat + 1}, {workers} worker(s): ingest span {seconds:.1f} s "
                    f"(measurement {time.monotonic() - started:.0f} s)",
                    flush=True,
                )
    rows = []
    for workers, spans in samples.items():
        median = statistics.median(spans)
        rows.append(
            {
                "workers": workers,
                "spans": [round(s, 1) for s in spans],
                "median_seconds": round(median, 1),
                "files_per_hour": round(args.files / median * 3600),
                "seconds_per_file": round(median / args.files, 2),
            }
        )
    write_result(
        "cluster_ingest",
        {
            "machine": machine(),
            "command": f"python bench/cluster_ingest_bench.py --files {args.files} "
            f"--rows {args.rows} --repeats {args.repeats}",
            "files": args.files,
            "rows_per_file": args.rows,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
