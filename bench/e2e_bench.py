"""End to end: `ml-pipeline run` against a plain script doing the same work, side by side.

    .venv/bin/python bench/e2e_bench.py --rows 100000 1000000 --repeats 3
    .venv/bin/python bench/e2e_bench.py --rows 10000000 --repeats 1 --workdir /big/disk

For each history size the demo generator lands ``--batches`` daily files once; every
repeat then runs `ml-pipeline run` on a fresh data folder (new Dagster instance, MLflow
store and warehouse) and `bench/reference_pipeline.py` on the same files, one after
the other. Both use the project's `pipeline.yaml` with only the folders changed. Wall
time, peak RSS and peak PSS (summed over each command's process tree, see
``bench/measure.py``; for the pipeline also within each job's span) are recorded per run
in ``<workdir>/results.jsonl``; the table printed at the end shows medians.
``--revision REF`` adds a side that runs `ml-pipeline run` with the code as committed at
REF (exported to a scratch folder, first on the path of the command and of the ingest
workers it spawns), right after the pipeline side in every repeat.
"""

import argparse
import functools
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest_run_bench import cli_at, export
from bench.measure import measure
from bench.results import checked_out_commit, machine, read_result, write_result
from ml_pipeline.defs.jobs import TRAINING_JOB

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_ROWS = (100_000, 1_000_000)


def write_config(folder: Path, landing: Path, data: Path, **sections: dict) -> Path:
    """The project's pipeline.yaml with other folders and the given settings changed."""
    settings = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    settings["dataset"]["landing_dir"] = str(landing)
    settings.setdefault("storage", {})["data_dir"] = str(data)
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def land(folder: Path, rows: int, batches: int, file_format: str) -> Path:
    landing = folder / "landing"
    if landing.is_dir() and any(landing.iterdir()):
        return landing
    config = write_config(folder, landing, folder / "generated")
    subprocess.run(
        [
            str(BIN / "ml-pipeline"),
            "demo-data",
            "--config",
            str(config),
            "--batches",
            str(batches),
            "--rows-per-batch",
            str(rows // batches),
            "--format",
            file_format,
        ],
        check=True,
    )
    return landing


def dagster_spans(data: Path) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Unix times of each job's first run created and last run ended, per job; and the
    seconds of each step of the last training run."""
    spans: dict[str, tuple[float, float]] = {}
    steps: dict[str, float] = {}
    os.environ["DAGSTER_HOME"] = str(data / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records()
        for record in records:
            if record.end_time:
                job = record.dagster_run.job_name
                first, last = spans.get(job, (float("inf"), 0.0))
                created = record.create_timestamp.timestamp()
                spans[job] = (min(first, created), max(last, record.end_time))
        training = [r for r in records if r.dagster_run.job_name == TRAINING_JOB]
        if training:  # newest first
            for step in instance.get_run_step_stats(training[0].dagster_run.run_id):
                if step.start_time and step.end_time:
                    steps[step.step_key] = round(step.end_time - step.start_time, 1)
    return spans, steps


def outside_jobs(
    spans: dict[str, tuple[float, float]], started: float, ended: float
) -> dict[str, float]:
    """Seconds of the command outside its Dagster jobs: before the first, between them
    and after the last (start-up, the switch from ingest to training, the summary)."""
    ordered = sorted(spans.values())
    if not ordered:
        return {}
    gaps = {"before_jobs": ordered[0][0] - started, "after_jobs": ended - ordered[-1][1]}
    between = sum(later[0] - earlier[1] for earlier, later in itertools.pairwise(ordered))
    return {**gaps, "between_jobs": between} if len(ordered) > 1 else gaps


def run_pipeline(
    folder: Path, landing: Path, index: int, tree: Path | None = None
) -> dict[str, object]:
    """``ml-pipeline run`` on a fresh data folder; ``tree``: with the code exported there."""
    run_dir = folder / (f"pipeline-{index}" if tree is None else f"pipeline-revision-{index}")
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    config = write_config(run_dir, landing, run_dir / "data")
    launch = [str(BIN / "ml-pipeline")] if tree is None else cli_at(tree)
    command = [*launch, "run", "--json", "--config", str(config)]
    measured = measure(command, run_dir / "run.log")
    if measured.returncode != 0:
        raise SystemExit(f"ml-pipeline run failed, see {run_dir / 'run.log'}")
    summary = json.loads(measured.stdout)
    spans, steps = dagster_spans(run_dir / "data")
    ended = measured.started_at + measured.seconds
    result = {
        "seconds": round(measured.seconds, 1),
        "peak_rss_mib": round(measured.peak_rss_mib),
        "phases": {job: round(last - first, 1) for job, (first, last) in spans.items()},
        "outside_jobs": {
            name: round(value, 1)
            for name, value in outside_jobs(spans, measured.started_at, ended).items()
        },
        "training_steps": steps,
        "peak_rss_mib_by_phase": {
            job: round(measured.peak_between(first, last) / 2**20)
            for job, (first, last) in spans.items()
        },
        "peak_pss_mib": round(measured.peak_pss_mib),
        "peak_pss_mib_by_phase": {
            job: round(measured.peak_between(first, last, proportional=True) / 2**20)
            for job, (first, last) in spans.items()
        },
        "train_rows": summary["rows"]["train"],
        "holdout": summary["champion"]["metrics"],
        "search_seconds": round(
            sum(c["fit_seconds"] for c in summary["training"]["candidates"]), 1
        ),
        "refit_seconds": round((summary["validation"]["refit"] or {}).get("seconds", 0.0), 1),
    }
    shutil.rmtree(run_dir / "data")
    return result


def run_reference(
    folder: Path, landing: Path, index: int, *flags: str, name: str = "reference"
) -> dict[str, object]:
    run_dir = folder / f"{name}-{index}"
    run_dir.mkdir(exist_ok=True)
    config = write_config(run_dir, landing, run_dir / "data")
    command = [sys.executable, str(ROOT / "bench" / "reference_pipeline.py"), *flags]
    measured = measure([*command, "--config", str(config)], run_dir / "run.log")
    if measured.returncode != 0:
        raise SystemExit(f"reference failed, see {run_dir / 'run.log'}")
    outcome = json.loads(measured.stdout)
    return {
        "seconds": round(measured.seconds, 1),
        "peak_rss_mib": round(measured.peak_rss_mib),
        "peak_pss_mib": round(measured.peak_pss_mib),
        "phases": {"prepare": outcome["prepare_seconds"], "train": outcome["train_seconds"]},
        "train_rows": outcome["train_rows"],
        "holdout": outcome["holdout"],
    }


SIDES = {
    "pipeline": run_pipeline,
    "reference": run_reference,
    # The reference with the remedy `ml-pipeline run` uses: only the winner is refit.
    "reference_winner_only": lambda folder, landing, index: run_reference(
        folder, landing, index, "--fit-winner-only", name="reference-winner-only"
    ),
}


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| rows | side | runs | wall s (median) | peak RSS MiB (median) | vs reference |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for rows in sorted({r["rows"] for r in results}):
        medians = {}
        for side in dict.fromkeys(r["side"] for r in results):
            runs = [r for r in results if r["rows"] == rows and r["side"] == side]
            if runs:
                medians[side] = (
                    len(runs),
                    statistics.median(r["seconds"] for r in runs),
                    statistics.median(r["peak_rss_mib"] for r in runs),
                )
        for side, (count, seconds, rss) in medians.items():
            ratio = seconds / medians["reference"][1] if "reference" in medians else float("nan")
            cells = [f"{rows:,}", side, count, f"{seconds:.1f}", f"{rss:.0f}", f"{ratio:.2f}x"]
            lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _history_sizes(command: str) -> list[int]:
    """The ``--rows`` values of an earlier command line: the runs it produced."""
    words = command.split()
    if "--rows" not in words:
        return list(DEFAULT_ROWS)
    sizes = []
    for word in words[words.index("--rows") + 1 :]:
        if not word.isdigit():
            break
        sizes.append(int(word))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument(
        "--sides", nargs="+", choices=list(SIDES), default=["pipeline", "reference"]
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--revision", help="also run the pipeline with the code of this git revision"
    )
    parser.add_argument("--result", help="also write the runs to bench/results/RESULT.json")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep RESULT.json's runs of other history sizes (one command per size)",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="e2e-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"working in {workdir}", flush=True)
    results = []
    current, revision, sides = checked_out_commit(), None, {}
    if args.revision:
        tree = workdir / "revision"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir()
        revision = export(args.revision, tree)
        # Right after the pipeline side, or first when there is none.
        at_revision = {"pipeline_at_revision": functools.partial(run_pipeline, tree=tree)}
        if "pipeline" not in args.sides:
            sides.update(at_revision)
    for side in args.sides:
        sides[side] = SIDES[side]
        if side == "pipeline" and revision is not None:
            sides.update(at_revision)
    for rows in args.rows:
        folder = workdir / f"rows-{rows}"
        folder.mkdir(exist_ok=True)
        landing = land(folder, rows, args.batches, args.format)
        for index in range(args.repeats):
            for side, run_side in sides.items():
                result = {"rows": rows, "side": side, **run_side(folder, landing, index)}
                # The code the run executed (the reference script's too).
                result["commit"] = revision if side == "pipeline_at_revision" else current
                results.append(result)
                print(json.dumps(result), flush=True)
                with (workdir / "results.jsonl").open("a") as log:
                    log.write(json.dumps(result) + "\n")
    print(table(results))
    if args.result:
        # The work folder is this machine's business, not part of the command to reproduce.
        shown = [a for a in sys.argv[1:] if a != "--workdir" and a != str(args.workdir)]
        command = "python bench/e2e_bench.py " + " ".join(shown)
        earlier = read_result(args.result) if args.append else None
        today = machine()["date"]
        results = [{**r, "date": today} for r in results]
        if earlier:
            # Runs kept from an earlier command keep the day they were measured on.
            before = earlier["machine"]["date"]
            measured = {r["rows"] for r in results}
            kept = [{"date": before, **r} for r in earlier["runs"] if r["rows"] not in measured]
            results = kept + results
            commands = [
                c
                for c in earlier["command"].split("` and `")
                if c != command and not set(_history_sizes(c)) <= measured
            ]
            command = "` and `".join([*commands, command])
        write_result(args.result, {"machine": machine(), "command": command, "runs": results})


if __name__ == "__main__":
    main()
