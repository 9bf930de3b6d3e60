"""A month of landed files, with faults, in under two hours: the soak benchmark.

    python bench/soak_bench.py [--files 720] [--every 8] [--seed 35] [--retrain-every 48]

Lands ``--files`` demo files (720: thirty days, one an hour), ``--every`` seconds apart
(at the default, 1.6 hours for the month), into a new project served by
`ml-pipeline ui` (`dagster dev` with its sensors and
daemon, on the embedded default: sqlite instance, local MLflow store). The relation
drifts over the month, so later data should make a better champion. Faults come at
random from ``--seed``: odd files (infinities, an empty file, a repeated header,
semicolons, a BOM with CRLF, one row, text in a number column), storage outages (the
warehouse's raw_samples folder made immutable, so writes fail with EPERM, even as
root; needs chattr and root), and SIGKILLs of executing runs. The clock is short; the
sensors, runs and retries are those that run for months.

Then it waits for every file to be ingested or quarantined and every run to end, and
records what the project ended with. A second run without faults (``--no-faults``)
is the comparison. Writes ``bench/results/soak.json`` (both runs, by name).

Every run of the month starts a new process that imports the checkout's code, so the
checkout must not change while it runs: run it from a worktree of its own
(``git worktree add``, then ``make install`` there). The commit is recorded when it
starts, and a checkout that moved meanwhile is recorded too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import checked_out_commit, machine, read_result, write_result
from ml_pipeline_tests.soak import Plan, can_make_immutable, random_plan, soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=720)
    # Under `dagster dev` on 2 cores an ingest run takes about 6 to 8 s of a core and two
    # run at once; landing faster only queues runs (a backlog the retries wait behind).
    parser.add_argument("--every", type=float, default=8.0, help="seconds between landings")
    parser.add_argument("--seed", type=int, default=35)
    parser.add_argument("--retrain-every", type=int, default=48)
    parser.add_argument("--no-faults", action="store_true", help="the comparison run")
    args = parser.parse_args()
    plan = random_plan(args.files, args.every, args.seed, args.retrain_every)
    name = "faults"
    if args.no_faults:
        plan = Plan(args.files, args.every, {}, (), (), args.retrain_every, drift=True)
        name = "no faults"
    started_at = checked_out_commit()
    with tempfile.TemporaryDirectory() as scratch:
        refusal = can_make_immutable(Path(scratch) / "probe") if plan.outages else None
        if refusal is not None:
            print(f"cannot inject storage outages: {refusal}", file=sys.stderr)
            return 2
        report = soak(Path(scratch) / "project", plan, settle_seconds=3600)
    data = read_result("soak") or {"runs": {}}
    data["runs"][name] = {
        **asdict(report),
        "faults_injected": report.faults_injected,
        "faults_survived": report.faults_survived,
        "rows_lost": report.rows_lost,
        "plan": {
            "files": plan.files,
            "every_seconds": plan.every_seconds,
            "seed": args.seed,
            "retrain_every": plan.retrain_every,
            "outages": [list(outage) for outage in plan.outages],
        },
        "commit": started_at,
    }
    if checked_out_commit() != started_at:
        data["runs"][name]["code_changed_to"] = checked_out_commit()
    data["machine"] = machine()
    data["command"] = "python bench/soak_bench.py && python bench/soak_bench.py --no-faults"
    path = write_result("soak", data)
    print(f"wrote {path}")
    clean = (
        not report.unaccounted
        and not report.active_runs
        and not report.mlflow_running
        and not report.doctor_problems
        and report.rows_lost == 0
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
