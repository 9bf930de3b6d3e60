"""Render the tables of ``docs/benchmarks.md`` and ``docs/scaling.md`` from
``bench/results/*.json``.

A table sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``; everything
between the markers is replaced by what the renderer for NAME makes of
``bench/results/NAME.json``. ``--check`` changes nothing and exits 1 when a document
differs from what the data renders.

    python bench/render.py [--check]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import read_result

TIMES = "\N{MULTIPLICATION SIGN}"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
# The capacity estimate for the scale-out profile quotes measured figures too.
DOCS = (DOC, DOC.with_name("scaling.md"))


def _number(value: object, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _provenance(data: dict[str, object]) -> str:
    machine = data["machine"]
    return (
        f"{machine['cpus']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, "
        f"{machine['date']}; `{data['command']}`."
    )


def _gap(gap: float | None, interval: list[float] | None) -> str:
    if gap is None:
        return "-"
    if interval is None:
        return f"{gap:+.3f}"
    return f"{gap:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"


def quality(data: dict[str, object]) -> str:
    rows = data["rows"]
    found = list(dict.fromkeys(row["variant"] for row in rows))
    # Today's defaults last: the gap and its interval are theirs.
    order = ("before", "treated_at_ingest", "after")
    variants = [v for v in order if v in found] + [v for v in found if v not in order]
    lines = [
        "| dataset | metric | withheld rows | "
        + " | ".join(f"deployed ({v})" for v in variants)
        + " | default HGB | tuned HGB | deployed - default [95% interval] | run s "
        + " | ".join(f"({v})" for v in variants)
        + " |",
        "|" + "---|" * (6 + 2 * len(variants)),
    ]
    for name in dict.fromkeys(row["dataset"] for row in rows):
        mine = {row["variant"]: row for row in rows if row["dataset"] == name}
        first = next(iter(mine.values()))
        last = mine.get(variants[-1], first)
        gap = None if last["deployed"] is None else last["deployed"] - last["default_hgb"]
        lines.append(
            f"| {name} | {first['metric']} | {first['withheld_rows']} | "
            + " | ".join(_number(mine.get(v, {}).get("deployed")) for v in variants)
            + f" | {_number(last['default_hgb'])} | {_number(last['tuned_hgb'])} | "
            + _gap(gap, last.get("gap_interval"))
            + " | "
            + " | ".join(str(mine.get(v, {}).get("run_seconds", "-")) for v in variants)
            + " |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def calibration(data: dict[str, object]) -> str:
    rows = data["rows"]
    lines = [
        "| dataset | estimator | log loss, plain | log loss, calibrated | "
        "macro F1, plain | macro F1, calibrated |",
        "|---|---|---:|---:|---:|---:|",
    ]
    pairs = dict.fromkeys((row["dataset"], row["estimator"]) for row in rows)
    for dataset, estimator in pairs:
        found = {
            row["probabilities"]: row
            for row in rows
            if (row["dataset"], row["estimator"]) == (dataset, estimator)
        }
        plain, calibrated = found["plain"], found["calibrated"]
        lines.append(
            f"| {dataset} | {estimator} | {plain['log_loss']:.4f} | "
            f"{calibrated['log_loss']:.4f} | {plain['f1_macro']:.4f} | "
            f"{calibrated['f1_macro']:.4f} |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def decay(data: dict[str, object]) -> str:
    lines = [
        "| change | seed | v1 holdout rmse | files until decay retrained | champion rmse "
        "on new days before | after | champions after each day |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in data["runs"]:
        waited = run["files_until_retrained"]
        lines.append(
            f"| {run['scenario'].replace('_', ' ')} | {run['seed']} | "
            f"{_number(run['validation_rmse'])} | "
            f"{waited if waited is not None else 'none in ' + str(len(run['champions']))} | "
            f"{_number(run['rmse_before'])} | {_number(run['rmse_after'])} | "
            f"{', '.join('v' + v if v else '-' for v in run['champions'])} |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def refit_cost(data: dict[str, object]) -> str:
    lines = [
        "| history | wall time | search (all candidates) | refit on all rows | refit share |",
        "|---:|---:|---:|---:|---:|",
    ]
    for run in data["runs"]:
        share = run["refit_seconds"] / run["seconds"]
        lines.append(
            f"| {run['rows']:,} rows | {run['seconds']:.1f} s | {run['search_seconds']:.1f} s | "
            f"{run['refit_seconds']:.1f} s | {share:.1%} |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def budget(data: dict[str, object]) -> str:
    lines = [
        "| training.time_budget_minutes | search wall time | settings tried (of planned) "
        "| challenger | holdout RMSE |",
        "|---:|---:|---|---|---:|",
    ]
    for run in data["runs"]:
        limit = "none" if run["budget_minutes"] is None else f"{run['budget_minutes']:g} min"
        tried = ", ".join(f"{name} {count}" for name, count in run["settings"].items())
        lines.append(
            f"| {limit} | {run['search_seconds']:.1f} s | {tried} | {run['challenger']} | "
            f"{run['holdout_rmse']:.3f} |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def bookkeeping(data: dict[str, object]) -> str:
    lines = [
        f"| instance | ingest of {data['files']} files of {data['rows_per_file']} rows, "
        "one at a time (median) | runs | per file | each run |",
        "|---|---:|---|---:|---|",
    ]
    for side in data["sides"]:
        each = ", ".join(f"{s:.1f}" for s in side["seconds"])
        lines.append(
            f"| {side['instance']} ({side['storage']}) | {side['median_seconds']:.1f} s | "
            f"{len(side['seconds'])} | {side['per_file_seconds']:.2f} s | {each} s |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def scoring(data: dict[str, object]) -> str:
    stages = [sample["stages"] for sample in data["samples"]]

    def stage(name: str) -> float:
        return statistics.median(s[name] for s in stages)

    lines = [
        "| rows | batch_predictions run (median) | rows/s per worker | read CSV | "
        "load model | score | write Parquet | bare predict | bare rows/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {data['rows']:,} | {data['median_run_seconds']:.2f} s | "
        f"{data['rows_per_second_run']:,} | {stage('read'):.2f} s | "
        f"{stage('load_model'):.2f} s | {stage('score'):.2f} s | {stage('write'):.2f} s | "
        f"{data['median_predict_seconds']:.2f} s | {data['rows_per_second_predict']:,} |",
    ]
    return "\n".join([*lines, "", _provenance(data)])


def cluster_ingest(data: dict[str, object]) -> str:
    lines = [
        f"| Celery workers | ingest span of {data['files']} files (median) | per file | "
        "files per hour | each repeat |",
        "|---:|---:|---:|---:|---|",
    ]
    for row in data["rows"]:
        each = ", ".join(f"{s:.1f}" for s in row["spans"])
        lines.append(
            f"| {row['workers']} | {row['median_seconds']:.1f} s | "
            f"{row['seconds_per_file']:.2f} s | {row['files_per_hour']:,} | {each} s |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def edge(data: dict[str, object]) -> str:
    cold = data["cold_start_seconds"]
    latency = data["latency_ms"]

    def timing(name: str) -> str:
        return f"{latency[name]['median']:.2f} ms | {latency[name]['p99']:.2f} ms"

    megabytes = {side: data[f"{side}_bytes"] / 1e6 for side in ("onnx", "pyfunc")}
    lines = [
        "| | size | cold start to first prediction (median) | 1 row, median | 1 row, p99 | "
        "100 rows, median | 100 rows, p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| `model.onnx`, edge scorer | {megabytes['onnx']:.2f} MB | "
        f"{statistics.median(cold['edge']):.2f} s | {timing('edge_1')} | {timing('edge_100')} |",
        f"| MLflow model, `mlflow.pyfunc.load_model` | {megabytes['pyfunc']:.2f} MB | "
        f"{statistics.median(cold['pyfunc']):.2f} s | {timing('pyfunc_1')} | "
        f"{timing('pyfunc_100')} |",
        "",
        f"Champion: {data['estimator']}; edge: {data['edge_note']}. "
        f"Latency over {latency['edge_1']['calls']} calls per case.",
    ]
    return "\n".join([*lines, "", _provenance(data)])


def edge_exactness(data: dict[str, object]) -> str:
    runs = {(run["dataset"], run["variant"]): run for run in data["runs"]}
    lines = [
        "| dataset | metric | candidates | challenger | holdout | withheld 20% | "
        "`model.onnx` | edge against pyfunc | run |",
        "|---|---|---|---|---:|---:|---|---|---:|",
    ]
    for (name, variant), run in runs.items():
        metric = run["metric"]
        holdout = run["holdout"].get(metric)
        if run.get("labels_differing") is not None:
            against = f"{run['labels_differing']} labels differ"
        elif run.get("max_gap") is not None:
            against = f"max gap {run['max_gap']:.2g}"
        else:
            against = "-"
        left_out = f" ({', '.join(run['left_out'])} left out)" if run["left_out"] else ""
        lines.append(
            f"| {name} | {metric} | {variant}{left_out} | {run['challenger']} | "
            f"{_number(holdout)} | {_number(run['withheld_score'])} | "
            f"{'published' if run['onnx_published'] else 'none'} | {against} | "
            f"{run['run_seconds']:.0f} s |"
        )
    code = f"Code at {data['commit'][:10]}."
    return "\n".join([*lines, "", code, "", _provenance(data)])


def incremental(data: dict[str, object]) -> str:
    histories = data["histories"]
    lines = [
        "| history | one new file (median) | each new file | training job | trained on |",
        "|---:|---:|---|---:|---|",
    ]
    for row in histories:
        each = ", ".join(f"{s:.2f}" for s in row["one_file_seconds"])
        lines.append(
            f"| {row['history']} partitions | {row['one_file_median']:.2f} s | {each} s | "
            f"{row['training_seconds']:.1f} s | "
            f"{row['train_rows']:,} of {row['history_rows']:,} rows |"
        )
    first, last = histories[0], histories[-1]
    if last is not first:
        file_ratio = last["one_file_median"] / first["one_file_median"]
        training_ratio = last["training_seconds"] / first["training_seconds"]
        lines.append(
            f"| ratio {last['history']} / {first['history']} | **{file_ratio:.2f}{TIMES}** | | "
            f"{training_ratio:.2f}{TIMES} | |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s ({min(values):.1f} to {max(values):.1f})"


LATENCY_SIDES = {
    "reuse": "defaults: refits the last search's choice",
    "search": "`reuse_search_hours: null`: searches again",
}


def _latency_side(repeat: dict) -> str:
    label = LATENCY_SIDES[repeat["side"]]
    return f"{label}, code at {repeat['revision'][:10]}" if "revision" in repeat else label


def latency(data: dict[str, object]) -> str:
    by_side: dict[str, list[dict]] = {}
    for repeat in data["repeats"]:
        by_side.setdefault(_latency_side(repeat), []).append(repeat)
    sides = list(by_side)
    heads = " | ".join(sides)
    rule = "|---|" + "---:|" * len(sides)

    def row(name: str, values_of) -> str:
        cells = []
        for side in sides:
            values = [v for v in (values_of(r) for r in by_side[side]) if v is not None]
            cells.append(_spread(values) if values else "-")
        return f"| {name} | {' | '.join(cells)} |"

    repeats = len(by_side[sides[0]])
    lines = [
        f"| from landing until ({repeats} repeats: median (min to max)) | {heads} |",
        rule,
        row("its ingest run succeeded", lambda r: r["ingested_seconds"]),
        row("the new champion is live (`data/deploy/current`)", lambda r: r["deployed_seconds"]),
        "",
        f"| stage | {heads} |",
        rule,
    ]
    stages = list(dict.fromkeys(s for r in data["repeats"] for s in r["stages"]))
    for stage in stages:
        name = f"of which {stage}" if stage.startswith("step ") else stage
        lines.append(row(name, lambda r, stage=stage: r["stages"].get(stage)))
    triggers = sorted({r["training_requested_by"] for r in data["repeats"]})
    lines += [
        "",
        f"Sensor interval {data['sensor_interval_seconds']} s; history "
        f"{data['history']} files of {data['rows_per_file']:,} rows; training requested by "
        f"{', '.join(f'`{t}`' for t in triggers)}"
        + (f"; code at {data['commit'][:10]}." if "commit" in data else "."),
    ]
    return "\n".join([*lines, "", _provenance(data)])


def sensor(data: dict[str, object]) -> str:
    warm = data["warm_seconds"]
    lines = [
        "| case | time | target |",
        "|---|---|---|",
        f"| one new file among {data['files']:,}, warm cursor | "
        f"{statistics.median(warm):.2f} s (median of {len(warm)}; "
        f"{min(warm):.2f} to {max(warm):.2f}) | at most 2 s |",
        f"| first evaluation, empty cursor (hashes all {data['files']:,} files) | "
        f"{data['cold_seconds']:.1f} s | |",
    ]
    return "\n".join([*lines, "", _provenance(data)])


def tick_cost(data: dict[str, object]) -> str:
    lines = [
        "| landing and scoring sensors | wave-end sensor | idle CPU, s per minute (median) "
        "| each repeat |",
        "|---:|---:|---:|---|",
    ]
    for side in data["sides"]:
        each = ", ".join(f"{v:.2f}" for v in side["cpu_seconds_per_minute"])
        lines.append(
            f"| every {side['landing_seconds']} s | every {side['wave_end_seconds']} s | "
            f"{side['median']:.2f} | {each} |"
        )
    return "\n".join([*lines, "", _provenance(data)])


def model_logging(data: dict[str, object]) -> str:
    lines = [
        "| requirements | seconds per logged model (median) | each repeat |",
        "|---|---:|---|",
    ]
    for side in data["sides"]:
        each = ", ".join(f"{v:.2f}" for v in side["seconds"])
        lines.append(f"| {side['requirements']} | {side['median']:.2f} | {each} |")
    return "\n".join([*lines, "", _provenance(data)])


def ingest_memory(data: dict[str, object]) -> str:
    lines = [
        "| rows per file | after each run | seconds per run (median) | resident after "
        "the first run | largest resident | after the last run |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for run in data["runs"]:
        resident = run["resident_mib"]
        lines.append(
            f"| {run['rows_per_file']:,} | {run['rule']} | "
            f"{statistics.median(run['seconds']):.2f} s | {resident[0]:,} MiB | "
            f"{max(resident):,} MiB | {resident[-1]:,} MiB |"
        )
    files = len(data["runs"][0]["seconds"])
    lines += [
        "",
        f"{files} files per row, one run each, in one process per row; threshold "
        f"{data['threshold_mib']} MiB.",
    ]
    return "\n".join([*lines, "", _provenance(data)])


def ingest_run(data: dict[str, object]) -> str:
    lines = [
        "| code | commit | events per run | seconds per run (median) | each repeat's median |",
        "|---|---|---:|---:|---|",
    ]
    for side in data["sides"]:
        events = statistics.median(repeat["events_per_run"] for repeat in side["repeats"])
        each = ", ".join(f"{statistics.median(r['seconds']):.3f}" for r in side["repeats"])
        lines.append(
            f"| {side['label']} | {side['commit'][:7]} | {events:g} | "
            f"{side['median_seconds_per_run']:.3f} s | {each} s |"
        )
    lines += [
        "",
        f"{data['files']} files of {data['rows_per_file']:,} rows, one run each, in a fresh "
        "process per side and repeat; the first run of each process is left out.",
    ]
    return "\n".join([*lines, "", _provenance(data)])


def ingest_profile(data: dict[str, object]) -> str:
    split = data["split"]
    seconds, shares = split["seconds_per_run"], split["split"]
    labels = {
        "events": f"writing Dagster's events ({split['events_per_run']:g} per run)",
        "suites": "the three expectation suites",
        "rest": "the rest: the assets' own work, and Dagster creating, planning, running it",
    }
    lines = [
        f"| one ingest run of a {data['rows_per_file']:,}-row file | seconds (mean of "
        f"{split['runs']} runs) | share |",
        "|---|---:|---:|",
        f"| whole run | {seconds:.3f} s | 100% |",
        *(
            f"| of which {labels[name]} | {value:.3f} s | {value / seconds:.0%} |"
            for name, value in shares.items()
        ),
        "",
        "| ingest workers | wall time (median) | CPU time, process and workers (median) "
        "| CPU seconds per second | each repeat |",
        "|---:|---:|---:|---:|---|",
    ]
    for setting in data["workers"]:
        repeats = setting["repeats"]
        wall = statistics.median(r["seconds"] for r in repeats)
        cpu = statistics.median(r["cpu_seconds"] for r in repeats)
        each = ", ".join(f"{r['seconds']:.1f} s ({r['cpu_seconds']:.1f} CPU s)" for r in repeats)
        lines.append(
            f"| {setting['workers']} | {wall:.1f} s | {cpu:.1f} s | {cpu / wall:.2f} | {each} |"
        )
    lines += [
        "",
        f"{data['files']} files of {data['rows_per_file']:,} rows; code at {data['commit'][:10]}.",
    ]
    return "\n".join([*lines, "", _provenance(data)])


def _peak(runs: list[dict], key: str) -> str:
    """Median peak over ``runs``, then each job's median peak when the runs have them."""
    if not all(key in run for run in runs):
        return "-"
    text = f"{statistics.median(run[key] for run in runs):,.0f} MiB"
    if all(f"{key}_by_phase" in run for run in runs):
        by_phase = {
            name: statistics.median(run[f"{key}_by_phase"][name] for run in runs)
            for name in runs[0][f"{key}_by_phase"]
        }
        text += " (" + ", ".join(f"{n} {v:,.0f}" for n, v in by_phase.items()) + ")"
    return text


# Where a run of ``ml-pipeline run`` spends its time: (label, where the run records it,
# key, the plain script's phase it compares with).
E2E_STAGES = [
    ("start-up, before the first job", "outside_jobs", "before_jobs", None),
    ("ingest job; the script: read, clean, features", "phases", "ingest_job", "prepare"),
    ("between the jobs", "outside_jobs", "between_jobs", None),
    ("training job; the script: search, fit, score", "phases", "training_job", "train"),
    ("of which step trained_model", "training_steps", "trained_model", None),
    ("of which the search's fits, all candidates", None, "search_seconds", None),
    ("of which step validation_metrics", "training_steps", "validation_metrics", None),
    ("of which the refit on all rows", None, "refit_seconds", None),
    ("of which step deployed_model", "training_steps", "deployed_model", None),
    ("of which step data_profile", "training_steps", "data_profile", None),
    ("after the last job", "outside_jobs", "after_jobs", None),
    ("whole run", None, "seconds", "seconds"),
]


def _stage(runs: list[dict], section: str | None, key: str) -> str:
    values = [(run if section is None else run.get(section, {})).get(key) for run in runs]
    return "-" if not values or None in values else _spread(values)


def _e2e_time(runs: list[dict]) -> list[str]:
    """The stages of the pipeline's runs that recorded them, per history size, beside the
    code at another revision and the plain script's phases: median (min to max)."""
    lines = []
    for rows in sorted({run["rows"] for run in runs}):
        sides = {
            side: [r for r in runs if r["rows"] == rows and r["side"] == side]
            for side in ("pipeline", "pipeline_at_revision", "reference")
        }
        pipelines = [side for side in ("pipeline", "pipeline_at_revision") if sides[side]]
        if not all("training_steps" in r for side in pipelines for r in sides[side]):
            continue
        headers = {"pipeline": "`ml-pipeline run`", "reference": "plain script"}
        if sides["pipeline_at_revision"]:
            commit = str(sides["pipeline_at_revision"][0].get("commit", ""))
            headers["pipeline_at_revision"] = f"at {commit[:10]}"
        shown = [*pipelines, *(["reference"] if sides["reference"] else [])]
        lines += [
            "",
            f"Where the time goes at {rows:,} rows, in the same runs (median, min to max):",
            "",
            "| stage | " + " | ".join(headers[side] for side in shown) + " |",
            "|---|" + "---:|" * len(shown),
        ]
        for label, section, key, phase in E2E_STAGES:
            cells = [_stage(sides[side], section, key) for side in pipelines]
            if sides["reference"]:
                script = ""
                if phase is not None:
                    section_of_script = None if phase == "seconds" else "phases"
                    script = _stage(sides["reference"], section_of_script, phase)
                cells.append(script)
            # The script's part of a label only where its column is.
            shown_label = label if sides["reference"] else label.split(";")[0]
            lines.append(f"| {shown_label} | " + " | ".join(cells) + " |")
    return lines


def e2e(data: dict[str, object]) -> str:
    runs = data["runs"]
    lines = [
        "| history | side | wall time (median) | of which (median) | peak RSS (median) "
        "| peak PSS (median) | holdout RMSE | time vs reference |",
        "|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    names = {
        "pipeline": "`ml-pipeline run`",
        "pipeline_at_revision": "`ml-pipeline run` at {commit}",
        "reference": "plain script",
        "reference_winner_only": "plain script, only the winner refit",
    }
    for rows in sorted({run["rows"] for run in runs}):
        sides = {
            side: [run for run in runs if run["rows"] == rows and run["side"] == side]
            for side in names
        }
        reference = [run["seconds"] for run in sides["reference"]]
        for side, mine in sides.items():
            if not mine:
                continue
            seconds = [run["seconds"] for run in mine]
            phases = {
                name: statistics.median(run["phases"][name] for run in mine)
                for name in mine[0]["phases"]
            }
            spread = (
                f"{statistics.median(seconds):.1f} s ({min(seconds):.1f} to {max(seconds):.1f})"
                if len(seconds) > 1
                else f"{seconds[0]:.1f} s (one run)"
            )
            label = names[side].format(commit=str(mine[0].get("commit", ""))[:10])
            lines.append(
                f"| {rows:,} rows | {label} | {spread} | "
                + ", ".join(f"{name} {value:.1f} s" for name, value in phases.items())
                + f" | {_peak(mine, 'peak_rss_mib')} | {_peak(mine, 'peak_pss_mib')} | "
                + f"{statistics.median(run['holdout']['rmse'] for run in mine):.2f} | "
                + (
                    f"{statistics.median(seconds) / statistics.median(reference):.2f}{TIMES} |"
                    if reference
                    else "- |"
                )
            )
    lines += _e2e_time(runs)
    days = {run["rows"]: run["date"] for run in runs if "date" in run}
    if len(set(days.values())) > 1:
        measured = "; ".join(f"{rows:,} rows on {day}" for rows, day in sorted(days.items()))
        lines += ["", f"Measured: {measured}."]
    # Per run since runs of several commands share a file; earlier files name one commit.
    code = {
        run["rows"]: str(run.get("commit", data.get("commit")))[:10]
        for run in runs
        if run["side"] == "pipeline" and ("commit" in run or "commit" in data)
    }
    if code:
        shown = "; ".join(f"{rows:,} rows at {commit}" for rows, commit in sorted(code.items()))
        lines += ["", f"`ml-pipeline run` code: {shown}."]
    return "\n".join([*lines, "", _provenance(data)])


def serving(data: dict[str, object]) -> str:
    rounds = data["rounds"]
    lines = [
        "| request | server | requests/s | p50 ms | p99 ms | failed | vs mlflow |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    requests = list(dict.fromkeys(r["request"] for r in rounds))
    servers = list(dict.fromkeys(r["server"] for r in rounds))

    def median(server: str, request: str, key: str) -> float:
        return statistics.median(
            r[key] for r in rounds if r["server"] == server and r["request"] == request
        )

    for request in requests:
        base = median("mlflow models serve", request, "rps")
        for server in servers:
            failed = sum(
                r["failed"] for r in rounds if r["server"] == server and r["request"] == request
            )
            rps = median(server, request, "rps")
            lines.append(
                f"| {request} | `{server}` | {rps:.0f} | {median(server, request, 'p50'):.1f} | "
                f"{median(server, request, 'p99'):.1f} | {failed:.0f} | "
                f"{rps / base:.1f}{TIMES} |"
            )
    count = len(rounds) // (len(requests) * len(servers))
    code = f"; code at {data['commit'][:10]}" if "commit" in data else ""
    lines += [
        "",
        f"Model: {data['model']}; load: {data['load']}; medians of {count} rounds{code}.",
    ]
    for server, counts in (data.get("shadow_requests") or {}).items():
        lines.append(
            f"The shadow of `{server}`, when the rounds ended: "
            f"{counts.get('scored', 0):,.0f} requests scored, "
            f"{counts.get('dropped', 0):,.0f} dropped (queue full)."
        )
    return "\n".join([*lines, "", _provenance(data)])


def profile(data: dict[str, object]) -> str:
    runs = data["runs"]
    labels = list(runs)
    tasks = [row["task"] for row in runs[labels[0]]["rows"]]
    first = runs[labels[0]]["rows"][0]
    lines = [
        f"| task ({first['rows']:,} rows, {first['columns']} columns) | "
        + " | ".join(labels)
        + " | ratio |",
        "|---|" + "---:|" * (len(labels) + 1),
    ]
    for task in tasks:
        cells = [next(r for r in runs[label]["rows"] if r["task"] == task) for label in labels]
        ratio = cells[0]["median_seconds"] / max(cells[-1]["median_seconds"], 1e-9)
        lines.append(
            f"| {task} | "
            + " | ".join(
                f"{c['median_seconds']:.1f} s ({', '.join(f'{s:.1f}' for s in c['seconds'])})"
                for c in cells
            )
            + f" | {ratio:.2g}{TIMES} |"
        )
    commits = ", ".join(f"{label} at {runs[label]['commit'][:10]}" for label in labels)
    return "\n".join(
        [*lines, "", f"Medians of the runs in brackets; {commits}.", "", _provenance(data)]
    )


def soak(data: dict[str, object]) -> str:
    runs = data["runs"]
    names = [name for name in ("faults", "no faults") if name in runs] + [
        name for name in runs if name not in ("faults", "no faults")
    ]

    def faults(run: dict, of: str) -> str:
        return " · ".join(f"{kind} {run[of].get(kind, 0)}" for kind in run["faults"])

    measures = [
        ("files landed", lambda r: str(r["files_landed"])),
        ("seconds between landings", lambda r: str(r["plan"]["every_seconds"])),
        ("faults injected", lambda r: f"{r['faults_injected']} ({faults(r, 'faults')})"),
        ("faults survived", lambda r: f"{r['faults_survived']} ({faults(r, 'survived')})"),
        ("files ingested", lambda r: str(r["ingested"])),
        ("files quarantined with a reason", lambda r: str(r["quarantined"])),
        ("files unaccounted for", lambda r: str(len(r["unaccounted"]))),
        ("rows landed in ingested files", lambda r: str(r["rows_landed"])),
        ("rows lost", lambda r: str(r["rows_lost"])),
        ("training runs", lambda r: str(r["trainings"])),
        ("model versions (champion at the end)", lambda r: f"{r['versions']} (v{r['champion']})"),
        ("runs left active", lambda r: str(len(r["active_runs"]))),
        ("MLflow runs left RUNNING", lambda r: str(r["mlflow_running"])),
        ("`doctor` problems", lambda r: str(len(r["doctor_problems"]))),
        ("wall time, s", lambda r: f"{r['seconds']:.0f}"),
    ]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, cell in measures:
        lines.append(f"| {label} | " + " | ".join(cell(runs[name]) for name in names) + " |")
    commits = sorted({runs[name]["commit"][:10] for name in names})
    moved = [
        f"{name}: the checkout moved to {runs[name]['code_changed_to'][:10]} during the run"
        for name in names
        if runs[name].get("code_changed_to")
    ]
    code = f"Code at {', '.join(commits)}" + (f" ({'; '.join(moved)})" if moved else "")
    return "\n".join([*lines, "", f"{code}.", "", _provenance(data)])


def mlflow_server(data: dict[str, object]) -> str:
    lines = [
        "| server workers | processes | RSS idle | RSS after the load | PSS after the load "
        f"| load ({data['runs']} runs) | each repeat (RSS, PSS) |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for setting in data["settings"]:
        median = setting["median"]
        repeats = ", ".join(
            f"{r['rss_mib']:.0f} / {r['pss_mib']:.0f} MiB" for r in setting["repeats"]
        )
        lines.append(
            f"| {setting['workers']} | {median['processes']:.0f} "
            f"| {median['idle_rss_mib']:.0f} MiB | {median['rss_mib']:.0f} MiB "
            f"| {median['pss_mib']:.0f} MiB | {median['load_seconds']:.1f} s | {repeats} |"
        )
    return "\n".join(
        [*lines, "", f"Medians; code at {data['commit'][:10]}.", "", _provenance(data)]
    )


RENDERERS: dict[str, Callable[[dict[str, object]], str]] = {
    "soak": soak,
    "profile": profile,
    "edge": edge,
    "edge_exactness": edge_exactness,
    "incremental": incremental,
    "latency": latency,
    "latency_search_reuse": latency,
    "latency_smoke_process": latency,
    "latency_sensor_interval": latency,
    "sensor": sensor,
    "tick_cost": tick_cost,
    "tick_cost_sensor_interval": tick_cost,
    "tick_cost_wave_end": tick_cost,
    "e2e": e2e,
    "e2e_uncaptured_output": e2e,
    "e2e_lean_ingest": e2e,
    "e2e_large_blocks": e2e,
    "e2e_quick_exit": e2e,
    "e2e_refit_threads": e2e,
    "model_logging": model_logging,
    "ingest_memory": ingest_memory,
    "ingest_run_checks": ingest_run,
    "ingest_run_gx_context": ingest_run,
    "ingest_run_gx_verdicts": ingest_run,
    "ingest_profile": ingest_profile,
    "serving": serving,
    "serving_async_dependencies": serving,
    "serving_async_dependencies_repeat": serving,
    "serving_switch_interval": serving,
    "serving_prediction_log": serving,
    "serving_scoring_path": serving,
    "serving_shadow": serving,
    "serving_shadow_equal_priority": serving,
    "serving_shadow_features_every_request": serving,
    "serving_batch_wait": serving,
    "cluster_ingest": cluster_ingest,
    "bookkeeping": bookkeeping,
    "scoring": scoring,
    "budget": budget,
    "refit_cost": refit_cost,
    "quality": quality,
    "calibration": calibration,
    "decay": decay,
    "mlflow_server": mlflow_server,
}


def render(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        data = read_result(name)
        if data is None or name not in RENDERERS:
            return match.group(0)
        return f"<!-- table:{name} -->\n{RENDERERS[name](data)}\n<!-- /table:{name} -->"

    return re.sub(r"<!-- table:(\w+) -->.*?<!-- /table:\1 -->", replace, text, flags=re.S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    differ = 0
    for doc in DOCS:
        current = doc.read_text(encoding="utf-8")
        rendered = render(current)
        if not args.check:
            doc.write_text(rendered, encoding="utf-8")
        elif rendered != current:
            print(f"{doc}: tables differ from bench/results; run python bench/render.py")
            differ = 1
    return differ


if __name__ == "__main__":
    sys.exit(main())
