"""What shorter sensor ticks cost an idle `dagster dev`: CPU seconds per minute.

    python bench/tick_bench.py [--window 90] [--repeats 2] [--sides 30,30 5,2]

One project (the repository's ``pipeline.yaml``, 30 demo files of 1,000 rows, ingested
and trained by ``ml-pipeline run``) is served by ``ml-pipeline ui`` (webserver, daemon
and code server) with nothing to do, once per side. A side is the interval of the
landing and scoring sensors and the interval at which the wave-end sensor looks for
finished ingest runs (30,30: every sensor every 30 s, as before the wave-end sensor
existed). After a minute of warm-up, the CPU time of the whole process tree is read
from /proc at the start and the end of a ``--window``-second idle window. The sides
alternate in every repeat. Writes ``bench/results/tick_cost.json`` (``--result NAME``:
``NAME.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import tree_total
from bench.results import machine, write_result
from ml_pipeline_tests.servers import free_port, running, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "ml-pipeline")
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User and system time of ``root`` and its descendants, reaped children included."""
    return tree_total(root, lambda entry, fields: sum(int(v) for v in fields[11:15]) / TICKS)


def project(folder: Path) -> Path:
    document = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    document["dataset"]["landing_dir"] = "landing"
    document["storage"] = {"data_dir": "data"}
    config = folder / "pipeline.yaml"
    config.write_text(yaml.safe_dump(document))
    for command in (
        [CLI, "demo-data", "--batches", "30", "--config", str(config)],
        [CLI, "run", "--config", str(config)],
    ):
        subprocess.run(command, check=True, capture_output=True, text=True)
    return config


def idle_cpu(config: Path, intervals: tuple[int, int], window: float) -> float:
    """CPU seconds per minute of ``ml-pipeline ui`` with nothing to do."""
    document = yaml.safe_load(config.read_text())
    document["sensor"] |= {
        "interval_seconds": intervals[0],
        "wave_end_interval_seconds": intervals[1],
    }
    config.write_text(yaml.safe_dump(document))
    port, log = free_port(), config.parent / "ui.log"
    with running([CLI, "ui", "--port", str(port), "--config", str(config)], log) as server:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", server, log, timeout=180)
        time.sleep(60)
        before = tree_cpu_seconds(server.pid)
        time.sleep(window)
        used = tree_cpu_seconds(server.pid) - before
    return used / window * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=90)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sides", nargs="+", default=["30,30", "5,2"])
    parser.add_argument("--result", default="tick_cost", help="write bench/results/NAME.json")
    args = parser.parse_args()
    sides = {side: tuple(int(part) for part in side.split(",")) for side in args.sides}
    samples: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="tick-bench-") as scratch:
        config = project(Path(scratch))
        for repeat in range(args.repeats):
            order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
            for side in order:
                samples[side].append(round(idle_cpu(config, sides[side], args.window), 2))
                print(f"repeat {repeat + 1}, {side}: {samples[side][-1]} CPU s/min", flush=True)
    command = (
        f"python bench/tick_bench.py --window {args.window:g} "
        f"--repeats {args.repeats} --sides {' '.join(args.sides)}"
    )
    if args.result != "tick_cost":
        command += f" --result {args.result}"
    write_result(
        args.result,
        {
            "machine": machine(),
            "command": command,
            "window_seconds": args.window,
            "sides": [
                {
                    "landing_seconds": sides[side][0],
                    "wave_end_seconds": sides[side][1],
                    "cpu_seconds_per_minute": values,
                    "median": statistics.median(values),
                }
                for side, values in samples.items()
            ],
        },
    )


if __name__ == "__main__":
    main()
