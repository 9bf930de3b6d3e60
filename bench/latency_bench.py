"""Latency under `dagster dev`: a file lands; when is it ingested, when is its champion live?

    .venv/bin/python bench/latency_bench.py --repeats 5

Each repeat builds a fresh project from the project's `pipeline.yaml` (sensor interval
as configured there unless ``--sensor-interval`` is given), lands ``--history`` demo
files and runs `ml-pipeline run --promote refuse` on them: the history is ingested and a
model trained, but nothing is deployed. Then `ml-pipeline ui` (dagster dev: webserver
and daemon) starts, and once its sensors have ticked one new file lands, at a random
point of the landing sensor's interval after one of its ticks (seeded, so that the
repeats sample its phase rather than one point of it, and every side of a repeat lands
at the same phase). Measured from the moment the file is in place: its ingest
run finishing (landing sensor, queued run, run process) and `<deploy>/current` appearing
(retrain sensor, training run, validation and export). Two sides, each repeat running
both at the same landing phase: the defaults, where that file-triggered training refits
the choice of the history's search, and `training.reuse_search_hours: null`, where it
searches again. ``--revision REF`` adds a side with the defaults and the code as
committed at REF (exported to a scratch folder and put first on every process's
``PYTHONPATH``), so that a change is measured against the code before it in one session.
With no champion deployed the promotion gate has no champion to beat, so every repeat
ends in a deployment. The run records break each repeat down into its stages. Writes
``bench/results/latency.json`` (``--result NAME``: ``NAME.json``).
"""

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ml_pipeline.core.names import PARTITION_TAG

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e_bench import BIN, write_config
from bench.ingest_run_bench import export
from bench.results import checked_out_commit, machine, write_result
from ml_pipeline.config import load_config
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline_tests.servers import child_environment, free_port, graphql, running, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
RUNS = "{ runsOrError(limit: 500) { ... on Runs { results { jobName status creationTime "
RUNS += "startTime endTime stepStats { stepKey startTime endTime } "
RUNS += "tags { key value } } } } }"


LANDING_TICKS = (
    '{ sensorOrError(sensorSelector: {repositoryName: "__repository__", '
    'repositoryLocationName: "ml_pipeline.definitions", sensorName: "landing_sensor"}) '
    "{ ... on Sensor { sensorState { ticks(limit: 5) { timestamp } } } } }"
)


def runs(url: str) -> list[dict]:
    return graphql(url, RUNS)["runsOrError"]["results"]


def landing_ticks(url: str) -> list[float]:
    """When the landing sensor's recent ticks started, oldest first (epoch seconds)."""
    sensor = graphql(url, LANDING_TICKS)["sensorOrError"]
    return sorted(tick["timestamp"] for tick in sensor["sensorState"]["ticks"])


def land_at_phase(url: str, phase: float, interval: int, log: Path) -> None:
    """Sleep until ``phase`` of an interval after one of the landing sensor's ticks.

    Timed from the sensor's own ticks, not from the server's start, so that every side
    of a repeat lands at the same point of the tick: how long the server took to start
    would otherwise decide the wait.
    """
    wait_for("two landing ticks", lambda: len(landing_ticks(url)) >= 2, 180, log)
    last = landing_ticks(url)[-1]
    target = last + phase * interval
    while target < time.time() + 0.5:
        target += interval
    time.sleep(target - time.time())


def ingest_run(url: str, key: str) -> dict | None:
    for run in runs(url):
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        if run["jobName"] == "ingest_job" and tags.get(PARTITION_TAG) == key:
            return run
    return None


def ingest_status(url: str, key: str) -> str | None:
    run = ingest_run(url, key)
    return run["status"] if run else None


def training_run(url: str, key: str) -> dict | None:
    """The first training run requested after the ingest run of ``key``."""
    ingest = ingest_run(url, key)
    trainings = [
        run
        for run in runs(url)
        if run["jobName"] == "training_job" and run["creationTime"] > ingest["creationTime"]
    ]
    return min(trainings, key=lambda run: run["creationTime"]) if trainings else None


def training_ended(url: str, key: str) -> bool:
    run = training_run(url, key)
    return run is not None and run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}


def stages(url: str, key: str, landed_at: float, deployed_at: float) -> tuple[dict, str]:
    """Seconds spent in each stage, from the run records (where the latency goes), and
    the sensor that requested the training run."""
    ingest = ingest_run(url, key)
    training = training_run(url, key)
    marks = [
        ("until the landing sensor's run request", landed_at, ingest["creationTime"]),
        ("ingest run queued and launched", ingest["creationTime"], ingest["startTime"]),
        ("ingest run process", ingest["startTime"], ingest["endTime"]),
        ("until the retrain trigger", ingest["endTime"], training["creationTime"]),
        ("training run queued and launched", training["creationTime"], training["startTime"]),
        ("training run process until deployed", training["startTime"], deployed_at),
        ("training run process after deployment", deployed_at, training["endTime"]),
    ]
    marks += [
        (f"step {step['stepKey']}", step["startTime"], step["endTime"])
        for step in training["stepStats"]
        if step["startTime"] and step["endTime"]
    ]
    sensor = {tag["key"]: tag["value"] for tag in training["tags"]}.get("dagster/sensor_name")
    return {name: round(end - start, 2) for name, start, end in marks}, str(sensor)


def wait_for(what: str, predicate, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {what}; see {log}")


# What the file-triggered retraining does about the search (training.reuse_search_hours).
SIDES = {"reuse": {}, "search": {"reuse_search_hours": None}}


def one_repeat(
    folder: Path,
    history: int,
    rows: int,
    interval: int | None,
    phase: float,
    side: str,
    tree: Path | None = None,
) -> dict:
    """One landed file on a fresh project; ``tree``: run the code exported there."""
    env = {"PYTHONPATH": str(tree)} if tree else None
    sensor = {"settle_seconds": 1} | ({"interval_seconds": interval} if interval else {})
    config = load_config(
        write_config(
            folder, folder / "landing", folder / "data", sensor=sensor, training=SIDES[side]
        )
    )
    truth = config.data_dir / "demo_truth"
    write_demo_data(
        DemoSpec(batches=history, rows_per_batch=rows), config.dataset.landing_dir, truth
    )
    cli = str(BIN / "ml-pipeline")
    config_arg = ["--config", str(config.source_path)]
    subprocess.run(
        [cli, "run", "--promote", "refuse", *config_arg],
        check=True,
        capture_output=True,
        env=child_environment(env),
        cwd=folder,
    )
    port, log = free_port(), folder / "dagster.log"
    # Run from the scratch folder: Dagster puts its working directory first on the code
    # location's path, and this checkout's there would shadow the exported revision.
    with running([cli, "ui", "--port", str(port), *config_arg], log, env, folder) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/server_info", server, log, timeout=180)
        # Let the sensors tick on the settled history before the file lands, then land
        # it at a random point of the landing tick: files do not arrive in step with the
        # daemon, and a fixed delay would measure one phase of it every time.
        land_at_phase(url, phase, config.sensor.interval_seconds, log)
        new_day = DemoSpec().start + dt.timedelta(days=history)
        spec = DemoSpec(batches=1, rows_per_batch=rows, start=new_day)
        [landed] = write_demo_data(spec, config.dataset.landing_dir, truth)
        landed_at, landed_clock = time.monotonic(), time.time()
        key = landed.stem
        wait_for(
            "the ingest run", lambda: ingest_status(url, key) in {"SUCCESS", "FAILURE"}, 600, log
        )
        if ingest_status(url, key) != "SUCCESS":
            raise SystemExit(f"ingest of {key} failed; see {log}")
        ingested = time.monotonic() - landed_at
        current = config.deploy_dir / "current"
        wait_for("a deployed champion", lambda: (current / "MLmodel").is_file(), 1200, log)
        deployed = time.monotonic() - landed_at
        # The run goes on after the deployment (the data profile is drawn last): stopping
        # the server under it would leave its process writing into the project.
        wait_for("the training run's end", lambda: training_ended(url, key), 600, log)
        breakdown, trigger = stages(url, key, landed_clock, landed_clock + deployed)
    return {
        "side": side,
        "ingested_seconds": round(ingested, 1),
        "deployed_seconds": round(deployed, 1),
        "stages": breakdown,
        "training_requested_by": trigger,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--history", type=int, default=30)
    parser.add_argument("--rows-per-batch", type=int, default=1000)
    parser.add_argument("--sensor-interval", type=int, default=None)
    parser.add_argument(
        "--sides",
        nargs="+",
        choices=list(SIDES),
        default=list(SIDES),
        help="reuse: the defaults (a file-triggered retraining refits the last search's "
        "choice); search: training.reuse_search_hours null (it searches again). "
        "Each repeat runs every side, in turn, at the same landing phase.",
    )
    parser.add_argument(
        "--revision", help="also run the defaults with the code as committed at this revision"
    )
    parser.add_argument("--result", default="latency", help="write bench/results/NAME.json")
    args = parser.parse_args()
    results = []
    phases = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="latency-bench-code-") as code:
        runs_of = [(side, None, None) for side in args.sides]
        if args.revision:
            tree = Path(code) / "revision"
            runs_of.append(("reuse", tree, export(args.revision, tree)))
        for _ in range(args.repeats):
            phase = phases.random()
            for side, tree, commit in runs_of:
                with tempfile.TemporaryDirectory(prefix="latency-bench-") as scratch:
                    result = one_repeat(
                        Path(scratch),
                        args.history,
                        args.rows_per_batch,
                        args.sensor_interval,
                        phase,
                        side,
                        tree,
                    )
                if commit:
                    result["revision"] = commit
                print(json.dumps(result), flush=True)
                results.append(result)
    interval = args.sensor_interval or load_config(ROOT / "pipeline.yaml").sensor.interval_seconds
    command = f"python bench/latency_bench.py --repeats {args.repeats}"
    if args.sensor_interval:
        command += f" --sensor-interval {args.sensor_interval}"
    if args.sides != list(SIDES):
        command += f" --sides {' '.join(args.sides)}"
    if args.revision:
        command += f" --revision {args.revision}"
    if args.result != "latency":
        command += f" --result {args.result}"
    write_result(
        args.result,
        {
            "machine": machine(),
            "command": command,
            "commit": checked_out_commit(),
            "history": args.history,
            "rows_per_file": args.rows_per_batch,
            "sensor_interval_seconds": interval,
            "repeats": results,
        },
    )
    for side, _tree, commit in runs_of:
        for name in ("ingested_seconds", "deployed_seconds"):
            values = [r[name] for r in results if r["side"] == side and r.get("revision") == commit]
            print(
                f"{side}{f' at {commit[:10]}' if commit else ''} {name}: median "
                f"{statistics.median(values)} (min {min(values)}, max {max(values)})"
            )


if __name__ == "__main__":
    sys.exit(main())
