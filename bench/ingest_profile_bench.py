"""Where one ingest run's time goes, and what another ingest worker does to the whole.

    python bench/ingest_profile_bench.py [--files 100] [--rows 10000] [--timed 20]
        [--workers 2 3] [--repeats 2] [--result ingest_profile]

Demo files are landed once (by default the 1M-row demo of the end-to-end benchmark).

Split: in a fresh process on a fresh project, one file is ingested to warm up (the
imports, the job, Great Expectations' context), then ``--timed`` files, one run each,
with clocks around what Dagster does for every event (the instance's
``handle_new_event``, which writes it) and around each expectation suite
(``expectations.validate``). The rest of a run is the assets' own work (reading,
cleaning, features, Parquet) and Dagster's creating, planning and executing the run.
A profiler was not used: it inflates Python-heavy code (Great Expectations) several times
more than the sqlite writes, and would skew the split.

Workers: in every repeat, each ``--workers`` setting ingests all the files the way
``ml-pipeline run`` does (its worker pool), on a fresh project in a fresh process; the
wall time and the CPU time of that process and its workers are recorded.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """Seconds and calls spent in the functions it wraps (outermost calls only)."""

    def __init__(self) -> None:
        self.seconds, self.calls, self._depth = 0.0, 0, 0

    def wrap(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(*args, **kwargs):
            self._depth += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - started
                    self.calls += 1

        return timed


def _open_project(config_path: str):
    from ml_pipeline.config import load_config
    from ml_pipeline.runtime.instance import ensure_dagster_home, project_instance

    config = load_config(config_path)
    ensure_dagster_home(config)
    return config, project_instance(config)


def _ingest(config, instance) -> None:
    from ml_pipeline.commands.execution import ingest_landed_files
    from ml_pipeline.commands.summary import RunSummary

    summary = RunSummary()
    ingest_landed_files(config, instance, summary, reingest=False)
    if summary.failed:
        raise SystemExit(f"ingest failed: {summary.failed}")


def split(argument: str) -> None:
    """In the measured process: warm up, then the timed runs."""
    import dagster as dg

    from ml_pipeline.core.data import expectations

    config_path, source, count = json.loads(argument)
    config, instance = _open_project(config_path)
    files = sorted(Path(source).iterdir())
    if len(files) < 1 + count:
        raise SystemExit(f"{count} timed runs need {1 + count} landed files")

    def land_and_ingest(batch: list[Path]) -> float:
        for path in batch:  # copy2 keeps the time stamp: the files are settled
            shutil.copy2(path, config.dataset.landing_dir / path.name)
        started = time.perf_counter()
        _ingest(config, instance)
        return time.perf_counter() - started

    config.dataset.landing_dir.mkdir(parents=True, exist_ok=True)
    land_and_ingest(files[:1])
    events, suites = Clock(), Clock()
    dg.DagsterInstance.handle_new_event = events.wrap(dg.DagsterInstance.handle_new_event)
    # The assets call it through the module, so the wrapped one is found at each call.
    expectations.validate = suites.wrap(expectations.validate)
    seconds = land_and_ingest(files[1 : 1 + count]) / count
    print(
        json.dumps(
            {
                "runs": count,
                "seconds_per_run": round(seconds, 3),
                "events_per_run": round(events.calls / count, 1),
                "split": {
                    "events": round(events.seconds / count, 3),
                    "suites": round(suites.seconds / count, 3),
                    "rest": round(seconds - (events.seconds + suites.seconds) / count, 3),
                },
            }
        )
    )


def with_workers(argument: str) -> None:
    """In the measured process: every landed file through ``ml-pipeline run``'s pool."""
    config, instance = _open_project(argument)
    started = time.perf_counter()
    _ingest(config, instance)
    seconds = time.perf_counter() - started
    cpu = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),  # the pool's workers, joined
        )
    )
    print(json.dumps({"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--timed", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--result", default="ingest_profile")
    parser.add_argument("--split", help=argparse.SUPPRESS)
    parser.add_argument("--with-workers", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.split:
        split(args.split)
        return
    if args.with_workers:
        with_workers(args.with_workers)
        return
    sys.path.insert(0, str(ROOT))
    from bench.e2e_bench import land, write_config
    from bench.measure import in_fresh_process
    from bench.results import checked_out_commit, machine, write_result

    with tempfile.TemporaryDirectory(prefix="ingest-profile-bench-") as scratch:
        folder = Path(scratch)
        landing = land(folder, args.rows * args.files, args.files, "csv")
        project = folder / "split"
        project.mkdir()
        config = write_config(project, project / "landing", project / "data", ingest={"workers": 1})
        timed = in_fresh_process(
            __file__, json.dumps([str(config), str(landing), args.timed]), flag="--split"
        )
        print(json.dumps(timed), flush=True)
        settings = [{"workers": workers, "repeats": []} for workers in args.workers]
        for repeat in range(args.repeats):
            for setting in settings:
                project = folder / f"workers-{setting['workers']}-{repeat}"
                project.mkdir()
                config = write_config(
                    project, landing, project / "data", ingest={"workers": setting["workers"]}
                )
                measured = in_fresh_process(__file__, str(config), flag="--with-workers")
                setting["repeats"].append(measured)
                print(setting["workers"], json.dumps(measured), flush=True)
    write_result(
        args.result,
        {
            "machine": machine(),
            "command": f"python bench/ingest_profile_bench.py --files {args.files} "
            f"--rows {args.rows} --timed {args.timed} --workers "
            + " ".join(str(w) for w in args.workers)
            + f" --repeats {args.repeats} --result {args.result}",
            "commit": checked_out_commit(),
            "files": args.files,
            "rows_per_file": args.rows,
            "split": timed,
            "workers": settings,
        },
    )


if __name__ == "__main__":
    main()
