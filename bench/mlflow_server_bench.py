"""The MLflow tracking server's size with 1, 2 and 4 workers, as the cluster runs it.

Each repeat starts ``mlflow server`` on a fresh PostgreSQL database with its own artifact
folder, waits for ``/health``, then drives it as training does: an experiment, runs
with params, metrics and tags, a small artifact, and the searches the pipeline makes.
The tree's resident and proportional memory (server, its workers) is read once the load
ends, with the process count and how long the load took.

    python bench/mlflow_server_bench.py [--workers 1 2 4] [--repeats 3] [--runs 40]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import tree_pss, tree_rss, tree_total
from bench.results import checked_out_commit, machine, write_result

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    import psycopg2

    name = f"bench_mlflow_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        admin.cursor().execute(f"CREATE DATABASE {name}")
        yield f"{POSTGRES}/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy within {timeout:.0f} s")


def drive(url: str, runs: int, folder: Path) -> float:
    """What trainings ask of the server: runs with params, metrics, tags and an artifact,
    then the searches for the newest finished run and for runs left RUNNING."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment("bench")
    artifact = folder / "model_card.json"
    artifact.write_text('{"metrics": {"rmse": 1.0}}')
    started = time.perf_counter()
    for index in range(runs):
        run = client.create_run(experiment, tags={"dagster/run_id": str(index)})
        run_id = run.info.run_id
        for name in ("alpha", "max_iter", "learning_rate", "candidate"):
            client.log_param(run_id, name, index)
        for step, value in enumerate((3.0, 2.0, 1.5)):
            client.log_metric(run_id, "rmse", value + index, step=step)
        client.log_artifact(run_id, str(artifact))
        client.set_terminated(run_id)
        client.search_runs([experiment], "attributes.status = 'RUNNING'", max_results=1000)
        client.search_runs(
            [experiment],
            "attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    return time.perf_counter() - started


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def one(workers: int, runs: int) -> dict[str, float]:
    mlflow = str(Path(sys.executable).parent / "mlflow")
    with scratch_database() as database, tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            mlflow,
            "server",
            "--backend-store-uri",
            database,
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        with (folder / "server.log").open("wb") as log:
            server = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_signals,
            )
            try:
                wait_for_health(url, server)
                idle_rss = tree_rss(server.pid)
                seconds = drive(url, runs, folder)
                return {
                    "processes": int(tree_total(server.pid, lambda entry, fields: 1)),
                    "idle_rss_mib": idle_rss / 2**20,
                    "rss_mib": tree_rss(server.pid) / 2**20,
                    "pss_mib": tree_pss(server.pid) / 2**20,
                    "load_seconds": seconds,
                }
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--result", default="mlflow_server")
    args = parser.parse_args()
    settings = []
    for workers in args.workers:
        repeats = []
        for _ in range(args.repeats):
            repeats.append(one(workers, args.runs))
            print(workers, repeats[-1], flush=True)
        median = {key: statistics.median(r[key] for r in repeats) for key in repeats[0]}
        settings.append({"workers": workers, "median": median, "repeats": repeats})
    command = "python bench/mlflow_server_bench.py " + " ".join(
        [
            "--workers",
            *map(str, args.workers),
            "--repeats",
            str(args.repeats),
            "--runs",
            str(args.runs),
        ]
    )
    write_result(
        args.result,
        {
            "machine": machine(),
            "command": command,
            "commit": checked_out_commit(),
            "runs": args.runs,
            "settings": settings,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
