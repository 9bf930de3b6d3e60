"""Decay measured in production: how many files after a change until retraining, and
whether the new champion recovers.

    .venv/bin/python bench/decay_bench.py --repeats 3

A fresh project lands 20 ordinary demo days and trains champion v1. Then days land one
at a time, each followed by `ml-pipeline run`'s policy, with the new-partition and
drift rules off so that only measured decay can retrain:

- ``relation_change``: the inputs keep their distribution, demand follows another rule
  (`demo-data --relation-change`), a change input drift cannot see;
- ``none``: ordinary days, the false-alarm check.

For each repeat (another demo seed) it records the files landed after the change until
decay retrained, and the champion's rmse on the changed days it measured before and
after that retraining (``champion_performance``), beside v1's holdout rmse. One
repeat per process, as MLflow keeps per-process state about its store. Writes
``bench/results/decay.json``.
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e_bench import write_config
from bench.measure import in_fresh_process
from bench.results import checked_out_commit, machine, write_result

HISTORY = 20


def measure(scenario: str, seed: int, days: int, folder: Path) -> dict:
    import dagster as dg

    from ml_pipeline.commands.execution import run_pipeline
    from ml_pipeline.config import load_config
    from ml_pipeline.core import names
    from ml_pipeline.core.data.demo_data import DemoSpec, batch_name, write_demo_data
    from ml_pipeline.defs.resources import mlflow_store
    from ml_pipeline.runtime.instance import project_instance

    path = write_config(
        folder,
        folder / "landing",
        folder / "data",
        sensor={"settle_seconds": 0},
        retraining={
            "min_new_partitions": 10_000,
            "drift_threshold": None,
            "max_model_age_hours": None,
        },
    )
    config = load_config(path)
    instance = project_instance(config)
    landing, truth = config.dataset.landing_dir, config.data_dir / "demo_truth"
    write_demo_data(DemoSpec(batches=HISTORY, seed=seed), landing, truth)
    first = run_pipeline(config, instance, retrain=True)
    assert first.champion is not None and first.champion.version == "1", first.error
    validation = mlflow_store(config).holdout_score("1", "rmse")
    retrained_after, versions = None, []
    # One seeded stretch of days, landed a day at a time: a seed is also the stations'
    # sizes, so a new seed per day would itself change the relation.
    stretch = DemoSpec(
        batches=HISTORY + days, seed=seed, relation_changed=scenario == "relation_change"
    )
    every = frozenset(batch_name(stretch, index) for index in range(stretch.batches))
    for day in range(days):
        today = batch_name(stretch, HISTORY + day)
        write_demo_data(stretch, landing, truth, skip=every - {today})
        summary = run_pipeline(config, instance)
        if summary.retrained_because and retrained_after is None:
            retrained_after = day + 1
        versions.append(summary.champion.version if summary.champion else None)
    measured = [
        record.asset_materialization.metadata
        for record in instance.fetch_materializations(
            dg.AssetKey(names.CHAMPION_PERFORMANCE), limit=days + HISTORY + 10
        ).records
    ]
    scored = [
        (m[names.SCORED_BY].value, m["rmse"].value)
        for m in reversed(measured)
        if "rmse" in m and names.SCORED_BY in m
    ]
    before = [rmse for version, rmse in scored if version == "1"]
    after = [rmse for version, rmse in scored if version != "1"]
    return {
        "scenario": scenario,
        "seed": seed,
        "validation_rmse": round(validation, 3),
        "files_until_retrained": retrained_after,
        "rmse_before": round(statistics.median(before), 3) if before else None,
        "rmse_after": round(statistics.median(after), 3) if after else None,
        "champions": versions,
    }


def measure_in_this_process(arguments: str) -> None:
    scenario, seed, days = json.loads(arguments)
    with tempfile.TemporaryDirectory(prefix="decay-bench-") as scratch:
        result = measure(scenario, seed, days, Path(scratch))
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure_in_this_process(args.one)
        return
    runs = []
    for scenario in ("relation_change", "none"):
        for repeat in range(args.repeats):
            arguments = json.dumps([scenario, 7 + 100 * repeat, args.days])
            runs.append(in_fresh_process(__file__, arguments))
            print(json.dumps(runs[-1]), flush=True)
    write_result(
        "decay",
        {
            "machine": machine(),
            "commit": checked_out_commit(),
            "command": f"python bench/decay_bench.py --repeats {args.repeats} --days {args.days}",
            "history_days": HISTORY,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
