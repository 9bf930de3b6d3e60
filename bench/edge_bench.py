"""The edge artifact against the MLflow model it stands for: size, cold start, latency.

    python bench/edge_bench.py [--repeats 5] [--calls 300]

Trains the demo champion once with ``deploy.onnx: true`` (``ml-pipeline run`` on 20 demo
days), then, alternating the two sides in every repeat:

- size: ``model.onnx`` against the exported MLflow model directory beside it;
- cold start: a new interpreter that loads the model and scores one row, timed from
  outside, with ``ml_pipeline.edge.scorer`` (onnxruntime and NumPy only) and with
  ``mlflow.pyfunc.load_model``;
- latency: in one process per repeat, ``--calls`` calls on 1 row and on 100 rows, the
  edge scorer on the text columns of a CSV file and the pyfunc model on the DataFrame
  ``read_csv`` gives (median and p99 over every call of every repeat).

Writes ``bench/results/edge.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import trained_demo_project
from bench.results import machine, write_result

COLD_EDGE = """
import sys
from ml_pipeline.edge.scorer import EdgeModel, read_columns
from pathlib import Path
model = EdgeModel(sys.argv[1])
print(model.score(read_columns(Path(sys.argv[2])))["prediction"][0])
"""
COLD_PYFUNC = """
import sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
print(model.predict(pd.read_csv(sys.argv[2]))[0])
"""


def prepare(root: Path) -> tuple[Path, Path]:
    trained_demo_project(root, deploy={"onnx": True})
    exported = (root / "data" / "deploy" / "current").resolve()
    if not (exported / "model.onnx").is_file():
        card = json.loads((exported / "model_card.json").read_text())
        raise RuntimeError(f"no model.onnx was published: {card.get('edge')}")
    import pandas as pd

    landed = sorted((root / "landing").glob("*.csv"))[-1]
    frame = pd.read_csv(landed).drop(columns=["count"])
    numeric = frame[["temp", "humidity", "windspeed"]].apply(pd.to_numeric, errors="coerce")
    frame = frame[(numeric.notna() | frame[["temp", "humidity", "windspeed"]].isna()).all(axis=1)]
    rows = root / "rows.csv"
    frame.head(100).to_csv(rows, index=False)
    frame.head(1).to_csv(root / "one.csv", index=False)
    return exported, rows


def folder_bytes(folder: Path, leave_out: set[str]) -> int:
    return sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name not in leave_out
    )


def cold_start(script: str, model: str, rows: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", script, model, str(rows)], check=True, capture_output=True
    )
    return time.perf_counter() - started


def latencies(exported: str, rows_path: str, calls: int) -> dict[str, list[float]]:
    """In the measured process: per-call seconds of both models on 1 and 100 rows."""
    import mlflow.pyfunc
    import pandas as pd

    from ml_pipeline.edge.scorer import EdgeModel, read_columns

    edge = EdgeModel(Path(exported) / "model.onnx")
    pyfunc = mlflow.pyfunc.load_model(exported)
    columns = read_columns(Path(rows_path))
    frame = pd.read_csv(rows_path)
    cases = {}
    for size in (1, 100):
        text = {name: values[:size] for name, values in columns.items()}
        table = frame.head(size)
        cases[f"edge_{size}"] = lambda text=text: edge.score(text)
        cases[f"pyfunc_{size}"] = lambda table=table: pyfunc.predict(table)
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for call in cases.values():
        call()  # the first call pays for lazy set-up, not measured
    for _ in range(calls):
        for name, call in cases.items():
            started = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - started)
    return timings


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        exported, rows, calls = args.one
        print(json.dumps(latencies(exported, rows, int(calls))))
        return
    with tempfile.TemporaryDirectory(prefix="edge-") as scratch:
        print("training the demo champion with deploy.onnx ...", flush=True)
        exported, rows = prepare(Path(scratch))
        card = json.loads((exported / "model_card.json").read_text())
        cold = {"edge": [], "pyfunc": []}
        timings: dict[str, list[float]] = {}
        one = str(Path(scratch) / "one.csv")
        for repeat in range(args.repeats):
            cold["edge"].append(cold_start(COLD_EDGE, str(exported / "model.onnx"), one))
            cold["pyfunc"].append(cold_start(COLD_PYFUNC, str(exported), one))
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(exported), str(rows), str(args.calls)],
                check=True,
                capture_output=True,
                text=True,
            )
            for name, values in json.loads(done.stdout.strip().splitlines()[-1]).items():
                timings.setdefault(name, []).extend(values)
            print(
                f"repeat {repeat + 1}: cold {cold['edge'][-1]:.2f} s / {cold['pyfunc'][-1]:.2f} s",
                flush=True,
            )
        write_result(
            "edge",
            {
                "machine": machine(),
                "command": f"python bench/edge_bench.py --repeats {args.repeats} "
                f"--calls {args.calls}",
                "estimator": card["estimator"],
                "edge_note": card["edge"]["note"],
                "onnx_bytes": (exported / "model.onnx").stat().st_size,
                "pyfunc_bytes": folder_bytes(
                    exported, {"model.onnx", "model_card.json", "model_card.md"}
                ),
                "cold_start_seconds": cold,
                "latency_ms": {
                    name: {
                        "median": round(statistics.median(values) * 1000, 3),
                        "p99": round(p99(values) * 1000, 3),
                        "calls": len(values),
                    }
                    for name, values in timings.items()
                },
            },
        )


if __name__ == "__main__":
    main()
