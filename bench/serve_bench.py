"""Throughput and latency of `ml-pipeline serve` against `mlflow models serve`, side by side.

The servers score the same exported champion (``<deploy>/current``) on the same
machine in the same session: ``ml-pipeline serve`` as configured, again with
``serving.compiled_scoring: false`` (the scikit-learn pipeline as it is), and
``mlflow models serve``; with ``--revision REF`` also ``ml-pipeline serve`` as the code
was at REF (its committed files exported to a scratch folder, first on ``sys.path``),
to show a change's effect side by side; each ``--variant KEY=VALUE`` adds ours with one
serving setting changed; ``--shadow`` adds ours with a shadow version (a copy of the
champion, in a scratch deploy folder) scoring every request in its child process.
Load comes from wrk (Debian package ``wrk``): 2 threads and 8 connections, 1-row and
100-row ``dataframe_split`` requests taken from the first landed file. Rounds alternate
between the servers and the table shows medians.

    make run                              # a champion to serve
    .venv/bin/python bench/serve_bench.py --rounds 5 --seconds 10 \
        [--variant KEY=VALUE ...] [--shadow] [--revision REF]

Writes ``bench/results/serving.json`` (or ``--result NAME``) with every round and the
commit measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_run_bench import cli_at, export
from bench.results import checked_out_commit, machine, write_result
from ml_pipeline.config import load_config
from ml_pipeline_tests.servers import free_port, running, wait_for_http

BIN = Path(sys.executable).parent
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@contextlib.contextmanager
def server(command: list[str], ready_url: str, log: Path) -> Iterator[None]:
    # MLflow starts `uvicorn` by name; an empty token leaves ours open too, like for like.
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    with running(command, log, env={"PATH": path, "ML_PIPELINE_API_TOKEN": ""}) as process:
        wait_for_http(ready_url, process, log, timeout=180)
        yield


def at_revision(revision: str, folder: Path) -> tuple[str, list[str]]:
    """A label and the command that runs ``ml-pipeline`` as committed at ``revision``."""
    tree = folder / "revision"
    commit = export(revision, tree)
    return f"ml-pipeline serve at {commit[:10]}", cli_at(tree)


def ml_pipeline_server(
    launch: list[str], config_path: str | Path | None
) -> tuple[list[str], str, str]:
    """The command, base URL and readiness path of one ``ml-pipeline serve`` on a free port."""
    port = free_port()
    command = [*launch, "serve", "--port", str(port)]
    if config_path:
        command += ["--config", str(config_path)]
    return command, f"http://127.0.0.1:{port}", "/ready"


def request_bodies(config, folder: Path) -> dict[str, Path]:
    landed = sorted(p for p in config.dataset.landing_dir.iterdir() if p.suffix == ".csv")
    rows = pd.read_csv(landed[0]).drop(columns=[config.dataset.target])
    bodies = {}
    for size in (1, 100):
        sample = pd.concat([rows] * (size // len(rows) + 1)).head(size)
        split = json.loads(sample.to_json(orient="split", index=False))
        path = folder / f"rows_{size}.json"
        path.write_text(json.dumps({"dataframe_split": split}))
        script = folder / f"rows_{size}.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{path}"); wrk.body = f:read("*a"); f:close()\n'
        )
        bodies[f"{size} row" + ("s" if size > 1 else "")] = script
    return bodies


def with_serving(config, folder: Path, overrides: dict[str, object]) -> Path:
    """The same project's settings with ``overrides`` in its ``serving`` section."""
    settings = yaml.safe_load(config.source_path.read_text())
    settings.setdefault("storage", {})["data_dir"] = str(config.data_dir)
    settings["dataset"]["landing_dir"] = str(config.dataset.landing_dir)
    settings.setdefault("serving", {}).update(overrides)
    path = folder / f"serving-{len(list(folder.glob('serving-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def with_shadow(config, folder: Path, artifact: Path) -> Path:
    """The same project served from a scratch deploy folder whose ``shadow`` link leads
    to a second copy of the champion: every request is scored twice, as in production."""
    from ml_pipeline.core.deploy.deploy_folder import SHADOW_LINK, point_current

    deploy = folder / "shadowed" / "deploy"
    deploy.mkdir(parents=True)
    for name in ("v1", "v2"):
        shutil.copytree(artifact, deploy / name)
    point_current(deploy, deploy / "v1")
    point_current(deploy, deploy / "v2", SHADOW_LINK)
    settings = yaml.safe_load(config.source_path.read_text())
    settings.setdefault("storage", {})["data_dir"] = str(config.data_dir)
    settings["storage"]["shared"] = str(folder / "shadowed")
    settings["dataset"]["landing_dir"] = str(config.dataset.landing_dir)
    path = folder / "shadowed.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def variant(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of the serving section, the value read as YAML."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def predictions(url: str, body: Path) -> list[float]:
    request = urllib.request.Request(
        url, data=body.read_bytes(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["predictions"]


def shadow_requests(url: str) -> dict[str, float]:
    """The shadow's scored and dropped requests, from the service's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=60) as response:
        text = response.read().decode()
    found = re.findall(r'ml_pipeline_shadow_requests\{outcome="(\w+)"\} ([0-9.e+]+)', text)
    return {outcome: float(value) for outcome, value in found}


def scoring_path(url: str) -> str:
    with urllib.request.urlopen(url + "/model", timeout=60) as response:
        return json.loads(response.read())["scoring_path"]


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * UNITS[unit]

    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "failed": float(failed.group(1)) if failed else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="pipeline config (default: ./pipeline.yaml)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--revision", help="also serve with the code of this git revision")
    parser.add_argument(
        "--result", default="serving", help="name of the result file under bench/results"
    )
    parser.add_argument(
        "--variant",
        type=variant,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also serve with this serving setting changed (repeatable)",
    )
    parser.add_argument(
        "--shadow", action="store_true", help="also serve with a shadow version scoring"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    config = load_config(args.config)
    artifact = (config.deploy_dir / "current").resolve()
    if not (artifact / "MLmodel").is_file():
        print(f"error: no deployed champion under {config.deploy_dir}; run `make run` first")
        return 2
    mlflow_port = free_port()
    ours = [str(BIN / "ml-pipeline")]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        folder = Path(scratch)
        servers = {"ml-pipeline serve": ml_pipeline_server(ours, args.config)}
        for key, value in [("compiled_scoring", False), *args.variant]:
            servers[f"ml-pipeline serve, {key}: {json.dumps(value)}"] = ml_pipeline_server(
                ours, with_serving(config, folder, {key: value})
            )
        servers["mlflow models serve"] = (
            [
                *(str(BIN / "mlflow"), "models", "serve", "-m", str(artifact)),
                *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)),
            ],
            f"http://127.0.0.1:{mlflow_port}",
            "/ping",
        )
        if args.shadow:
            shadowed = with_shadow(config, folder, artifact)
            servers["ml-pipeline serve, with a shadow"] = ml_pipeline_server(ours, shadowed)
        if args.revision:
            label, launch = at_revision(args.revision, folder)
            servers[label] = ml_pipeline_server(launch, args.config)
        bodies = request_bodies(config, folder)
        for index, (command, url, ready) in enumerate(servers.values()):
            stack.enter_context(server(command, url + ready, folder / f"server-{index}.log"))
        first = bodies["1 row"].with_suffix(".json")
        mine = predictions(servers["ml-pipeline serve"][1] + "/invocations", first)
        for other in [name for name in servers if name != "ml-pipeline serve"]:
            theirs = predictions(servers[other][1] + "/invocations", first)
            assert abs(mine[0] - theirs[0]) < 1e-9, (other, mine, theirs)
        paths = {
            name: scoring_path(url) for name, (_, url, _) in servers.items() if "mlflow" not in name
        }
        print(paths)
        for round_number in range(args.rounds):
            for body_name, script in bodies.items():
                for name, (_, url, _) in servers.items():
                    outcome = wrk(url + "/invocations", script, args.seconds)
                    results.setdefault((name, body_name), []).append(outcome)
                    print(f"round {round_number + 1} {name:<20} {body_name:<8} {outcome}")
        shadowed = {
            name: shadow_requests(url) for name, (_, url, _) in servers.items() if "shadow" in name
        }
    write_result(
        args.result,
        {
            "machine": machine(),
            "commit": checked_out_commit(),
            "command": f"python bench/serve_bench.py --rounds {args.rounds} "
            f"--seconds {args.seconds}"
            + "".join(f" --variant {key}={value}" for key, value in args.variant)
            + (" --shadow" if args.shadow else "")
            + (f" --revision {args.revision}" if args.revision else "")
            + (f" --result {args.result}" if args.result != "serving" else ""),
            "model": f"{config.mlflow.registered_model} {artifact.name}",
            "load": f"wrk -t2 -c8 -d{args.seconds}s",
            "scoring_paths": paths,
            "shadow_requests": shadowed,
            "rounds": [
                {"server": name, "request": body_name, **outcome}
                for (name, body_name), outcomes in results.items()
                for outcome in outcomes
            ],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
