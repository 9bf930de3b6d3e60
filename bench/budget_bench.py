"""Does the search keep to ``training.time_budget_minutes``? The demo with budgets.

The demo's 60 daily files are landed once; each budget then runs ``ml-pipeline run`` on
a fresh data folder with the project's ``pipeline.yaml``, its search widened to eight
draws per candidate so that a budget has something to cut. Recorded per run: the
search's wall time (the candidates' tuning summed), the settings tried of those planned,
and the challenger's holdout RMSE. Results go to ``bench/results/budget.json``;
``python bench/render.py`` renders the table.

    python bench/budget_bench.py [--budgets none 0.25 0.1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import machine, write_result
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data

ROOT = Path(__file__).resolve().parents[1]

ITERATIONS = 8


def run(folder: Path, landing: Path, budget: float | None) -> dict[str, object]:
    document = yaml.safe_load((ROOT / "pipeline.yaml").read_text(encoding="utf-8"))
    name = "none" if budget is None else f"{budget:g}"
    document["dataset"]["landing_dir"] = str(landing)
    document["storage"] = {"data_dir": str(folder / f"data-{name}")}
    document["training"].update(search_iterations=ITERATIONS, time_budget_minutes=budget)
    config = folder / f"pipeline-{name}.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_pipeline.commands.cli",
            "run",
            "--json",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"run with budget {name} failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    candidates = summary["training"]["candidates"]
    return {
        "budget_minutes": budget,
        "search_seconds": round(sum(c["fit_seconds"] for c in candidates), 1),
        "settings": {c["candidate"]: c["settings_tried"] for c in candidates},
        "holdout_rmse": summary["validation"]["challenger"]["rmse"],
        "challenger": summary["training"]["challenger"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", default=["none", "0.25", "0.1"])
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        landing = folder / "landing"
        write_demo_data(DemoSpec(), landing, folder / "demo_truth")
        for budget in args.budgets:
            result = run(folder, landing, None if budget == "none" else float(budget))
            print(json.dumps(result), flush=True)
            runs.append(result)
    command = "python bench/budget_bench.py " + " ".join(sys.argv[1:])
    write_result("budget", {"machine": machine(), "command": command.strip(), "runs": runs})


if __name__ == "__main__":
    main()
