"""What one ingest run costs in two revisions of the code, side by side.

    python bench/ingest_run_bench.py --revisions BEFORE AFTER [--labels TEXT TEXT]
        [--files 12] [--rows 10000] [--repeats 3] [--result ingest_run]

Each revision's committed files are exported (``git archive``) to a scratch folder. Demo
files are landed once. In every repeat, each revision in turn ingests all of them in a
fresh process whose ``ml_pipeline`` is that revision's (first on ``sys.path``), one run
per file, one run at a time, the way an ingest worker of ``ml-pipeline run`` does. Each
run's seconds and the events it wrote to the instance are recorded; the first run of a
process, which pays the imports' first use, is left out. Writes
``bench/results/<result>.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ingest_all(argument: str) -> None:
    """In the measured process: every landed file, one ingest run each, one revision."""
    tree, config_path = json.loads(argument)
    sys.path.insert(0, tree)
    import ml_pipeline
    from ml_pipeline.commands.execution import _ingest_one
    from ml_pipeline.config import load_config
    from ml_pipeline.definitions import build_definitions
    from ml_pipeline.defs.jobs import INGEST_JOB
    from ml_pipeline.defs.partitions import landed_files
    from ml_pipeline.runtime.instance import project_instance

    assert Path(ml_pipeline.__file__).is_relative_to(tree), ml_pipeline.__file__
    config = load_config(config_path)
    instance = project_instance(config)
    keys = sorted(path.stem for path in config.dataset.landing_dir.iterdir())
    instance.add_dynamic_partitions(landed_files.name, keys)
    job = build_definitions(config).resolve_job_def(INGEST_JOB)
    seconds = []
    for key in keys:
        started = time.perf_counter()
        error, _ = _ingest_one(job, instance, key)
        if error:
            raise SystemExit(f"{key}: {error}")
        seconds.append(round(time.perf_counter() - started, 3))
    events = [len(instance.all_logs(run.run_id)) for run in instance.get_runs()]
    print(json.dumps({"seconds": seconds[1:], "events_per_run": statistics.median(events)}))


def export(revision: str, folder: Path) -> str:
    """The revision's committed files under ``folder``; its full commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return commit


def cli_at(tree: Path) -> list[str]:
    """The command that runs ``ml-pipeline`` with the code exported under ``tree``, as its
    console script does (``command`` where the revision has it, else ``main``); the
    processes it spawns inherit that path, so they run the same code."""
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); import ml_pipeline.commands.cli as cli; "
        "cli.command() if hasattr(cli, 'command') else sys.exit(cli.main())"
    )
    return [sys.executable, "-c", code]


def measure(tree: Path, config: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps([str(tree), str(config)])],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--labels", nargs=2, default=["before", "after"])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--result", default="ingest_run")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        ingest_all(args.one)
        return
    if not args.revisions:
        parser.error("--revisions BEFORE AFTER is required")
    sys.path.insert(0, str(ROOT))
    from bench.e2e_bench import land, write_config
    from bench.results import machine, write_result

    with tempfile.TemporaryDirectory(prefix="ingest-run-bench-") as scratch:
        folder = Path(scratch)
        landing = land(folder, args.rows * args.files, args.files, "csv")
        sides = []
        for index, (revision, label) in enumerate(zip(args.revisions, args.labels, strict=True)):
            tree = folder / f"revision-{index}"
            tree.mkdir()
            commit = export(revision, tree)
            sides.append({"label": label, "revision": revision, "commit": commit, "repeats": []})
        for repeat in range(args.repeats):
            for index, side in enumerate(sides):
                project = folder / f"run-{repeat}-{index}"
                project.mkdir()
                config = write_config(project, landing, project / "data")
                measured = measure(folder / f"revision-{index}", config)
                side["repeats"].append(measured)
                print(side["revision"], statistics.median(measured["seconds"]), flush=True)
    for side in sides:
        side["median_seconds_per_run"] = round(
            statistics.median(s for repeat in side["repeats"] for s in repeat["seconds"]), 3
        )
    write_result(
        args.result,
        {
            "machine": machine(),
            "command": "python bench/ingest_run_bench.py --revisions "
            + " ".join(args.revisions)
            + " --labels "
            + " ".join(f"'{label}'" for label in args.labels)
            + f" --files {args.files} --rows {args.rows} --repeats {args.repeats}"
            + f" --result {args.result}",
            "files": args.files,
            "rows_per_file": args.rows,
            "sides": sides,
        },
    )


if __name__ == "__main__":
    main()
