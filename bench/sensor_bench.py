"""Time one landing-sensor evaluation with many landed files, one of them new.

    python bench/sensor_bench.py [--files 10000] [--repeats 5]

Builds a temporary project whose landing folder holds ``--files`` small CSV files, all
registered as partitions and recorded as ingested on a temporary sqlite Dagster
instance, with the sensor's cursor from an earlier tick. Each repeat lands one new file
and times a full evaluation: folder scan, digests, history lookup, cursor. Writes
``bench/results/sensor.json``.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import machine, write_result
from ml_pipeline.config import load_config
from ml_pipeline.core.data.landing import content_digest
from ml_pipeline.defs.assets.ingest import landed_files
from ml_pipeline.defs.sensors import build_landing_sensor

ROW = "timestamp,temp,count\n2024-01-01 00:00:00,3.5,{}\n"


def evaluate(sensor, instance, cursor):
    started = time.perf_counter()
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "pipeline.yaml").write_text(
            yaml.safe_dump(
                {
                    "dataset": {"landing_dir": "landing", "target": "count", "task": "regression"},
                    "sensor": {"settle_seconds": 0},
                }
            )
        )
        config = load_config(root / "pipeline.yaml")
        landing = config.dataset.landing_dir
        landing.mkdir(parents=True)
        keys = [f"batch_{i:06d}" for i in range(args.files)]
        for i, key in enumerate(keys):
            (landing / f"{key}.csv").write_text(ROW.format(i))
        os.environ["DAGSTER_HOME"] = str(root / "home")
        (root / "home").mkdir()
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(landed_files.name, keys)
            print(f"recording {args.files} ingested partitions ...", flush=True)
            for key in keys:
                digest = content_digest(landing / f"{key}.csv")
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(
                        "raw_samples", partition=key, metadata={"source_digest": digest}
                    )
                )
                instance.report_runless_asset_event(
                    dg.AssetMaterialization("features", partition=key)
                )
            sensor = build_landing_sensor(config)
            cold, result = evaluate(sensor, instance, None)
            assert result.run_requests == [], "every file was already ingested"
            cursor = result.cursor
            timings = []
            for repeat in range(args.repeats):
                (landing / f"new_{repeat}.csv").write_text(ROW.format(repeat))
                seconds, result = evaluate(sensor, instance, cursor)
                assert [r.partition_key for r in result.run_requests] == [f"new_{repeat}"]
                instance.add_dynamic_partitions(landed_files.name, [f"new_{repeat}"])
                cursor = result.cursor
                timings.append(seconds)
    write_result(
        "sensor",
        {
            "machine": machine(),
            "command": f"python bench/sensor_bench.py --files {args.files} "
            f"--repeats {args.repeats}",
            "files": args.files,
            "cold_seconds": round(cold, 3),
            "warm_seconds": [round(t, 4) for t in timings],
        },
    )
    print(f"files: {args.files}")
    print(f"first evaluation, empty cursor (hashes every file): {cold:.2f} s")
    print(
        f"one new file, warm cursor: median {statistics.median(timings):.3f} s "
        f"over {args.repeats} (min {min(timings):.3f}, max {max(timings):.3f})"
    )


if __name__ == "__main__":
    main()
