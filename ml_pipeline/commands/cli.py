"""The ``ml-pipeline`` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

from ml_pipeline.config import (
    CONFIG_ENV_VAR,
    MLFLOW_UI_HOST,
    MLFLOW_UI_PORT,
    ConfigError,
    PipelineConfig,
    load_config,
)


def _config_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="PATH",
        help=f"pipeline config file (default: ${CONFIG_ENV_VAR}, else ./pipeline.yaml)",
    )
    return parent


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_demo_data(commands, parent: argparse.ArgumentParser) -> None:
    demo = commands.add_parser("demo-data", parents=[parent], help="write demo batch files")
    demo.add_argument("--batches", type=_positive, default=60)
    demo.add_argument("--rows-per-batch", type=_positive, default=240)
    demo.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--drift", action="store_true", help="drift gradually in later batches")
    demo.add_argument(
        "--relation-change",
        action="store_true",
        help="the inputs keep their distribution but demand follows another rule (working "
        "days ride like holidays): decay that input drift does not show",
    )
    demo.add_argument(
        "--label-noise",
        type=_non_negative,
        default=0.0,
        metavar="SDS",
        help="add zero-mean noise of this many target standard deviations to every label "
        "(to see a worse challenger kept out)",
    )
    demo.add_argument("--format", choices=["csv", "parquet"], default="csv")
    demo.add_argument(
        "--if-empty", action="store_true", help="do nothing if the landing folder has files"
    )


def build_parser() -> argparse.ArgumentParser:
    parent = _config_parent()
    parser = argparse.ArgumentParser(
        prog="ml-pipeline", description="Landed batch files to a deployed, monitored model."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    _add_demo_data(commands, parent)

    run = commands.add_parser("run", parents=[parent], help="ingest, train and deploy once")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument(
        "--reingest", action="store_true", help="ingest every file again, changed or not"
    )
    run.add_argument(
        "--retrain",
        action="store_true",
        help="train even when nothing new calls for it (the retrain sensor's policy)",
    )
    run.add_argument(
        "--promote",
        choices=["auto", "force", "refuse"],
        default="auto",
        help="auto applies the promotion rules; force or refuse overrides them for this run",
    )

    backfill = commands.add_parser(
        "backfill",
        parents=[parent],
        help="re-run partitions through a running Dagster webserver's GraphQL API",
    )
    which = backfill.add_mutually_exclusive_group(required=True)
    which.add_argument("--partitions", metavar="K1,K2", help="comma-separated partition keys")
    which.add_argument("--from", dest="start", metavar="K", help="first partition of a range")
    which.add_argument("--all", action="store_true", help="every partition")
    backfill.add_argument("--to", dest="end", metavar="K", help="last partition of the range")
    what = backfill.add_mutually_exclusive_group()
    what.add_argument(
        "--retrain", action="store_true", help="also profile, train, validate and deploy"
    )
    what.add_argument(
        "--rescore",
        metavar="VERSION",
        help="re-score batch_predictions partitions with this registered model version "
        "(or 'champion')",
    )
    what.add_argument(
        "--remeasure",
        metavar="VERSION",
        help="measure champion_performance on landed partitions again with this registered "
        "model version (or 'champion'); partitions it trained on stay unmeasured",
    )
    backfill.add_argument("--url", default="http://127.0.0.1:3000", help="Dagster webserver")
    backfill.add_argument("--timeout", type=float, default=3600, help="seconds to follow it")

    forget = commands.add_parser(
        "forget",
        parents=[parent],
        help="delete a partition, its warehouse files and ingest record; its landed file "
        "stays where it is and is not ingested again",
    )
    forget.add_argument("partition", help="the partition key (as `run` and the UI show it)")

    contract = commands.add_parser(
        "contract", parents=[parent], help="show or change the schema contract"
    )
    contract_commands = contract.add_subparsers(dest="action", required=True)
    contract_commands.add_parser("show", parents=[parent], help="print the contract as JSON")
    add = contract_commands.add_parser(
        "add", parents=[parent], help="add a column: files carrying it feed it to the model"
    )
    add.add_argument("column")
    add.add_argument("--kind", choices=["numeric", "categorical", "datetime"], required=True)
    add.add_argument(
        "--required",
        action="store_true",
        help="refuse files without it (earlier partitions lack it, so the default is optional)",
    )
    drop = contract_commands.add_parser(
        "drop", parents=[parent], help="remove a column: it is ignored from then on"
    )
    drop.add_argument("column")
    kind = contract_commands.add_parser(
        "kind",
        parents=[parent],
        help="decide a column's kind: training reads every partition's values as it",
    )
    kind.add_argument("column")
    kind.add_argument("kind", choices=["numeric", "categorical", "datetime"])

    commands.add_parser(
        "rollback",
        parents=[parent],
        help="point the champion alias back at the version it replaced and redeploy it",
    )
    for verb, said in (("approve", "serve"), ("reject", "turn down")):
        decide = commands.add_parser(
            verb,
            parents=[parent],
            help=f"{said} the candidate awaiting approval (promotion.approval: manual)",
        )
        decide.add_argument("version")
    labels = commands.add_parser(
        "labels",
        parents=[parent],
        help="hand in late labels for served predictions: a CSV or Parquet file of the id "
        "column (the dataset's id, else row_id) and the target, copied to the labels folder",
    )
    labels.add_argument("file", type=Path)
    history = commands.add_parser(
        "history",
        parents=[parent],
        help="every promotion decision, from the MLflow registry: promoted, kept, forced, "
        "refused, rolled back",
    )
    history.add_argument("--json", action="store_true", help="print one JSON list")

    serve = commands.add_parser(
        "serve",
        parents=[parent],
        help="serve the deployed champion over HTTP (MLflow scoring protocol); "
        "set ML_PIPELINE_API_TOKEN (or ML_PIPELINE_API_TOKEN_FILE, a file holding it) to "
        "require a bearer token",
    )
    serve.add_argument("--host", help="address to bind (default: serving.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: serving.port, 8000)")

    ui = commands.add_parser("ui", parents=[parent], help="start the Dagster UI and daemon")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)

    worker = commands.add_parser(
        "worker",
        parents=[parent],
        help="take steps from the Celery broker (dagster.executor: celery); start one per "
        "machine or core",
    )
    worker.add_argument("--name", help="the worker's name (default: dagster-<random>@<host>)")

    mlflow_ui = commands.add_parser("mlflow-ui", parents=[parent], help="start the MLflow UI")
    mlflow_ui.add_argument("--host", default=MLFLOW_UI_HOST)
    mlflow_ui.add_argument("--port", type=int, default=MLFLOW_UI_PORT)

    edge = commands.add_parser(
        "edge-score",
        help="score a CSV file with an exported model.onnx (onnxruntime and NumPy only; "
        "no config, no pandas, scikit-learn or MLflow)",
    )
    from ml_pipeline.edge.scorer import add_arguments

    add_arguments(edge)

    commands.add_parser("check-config", parents=[parent], help="validate the config and exit")
    doctor = commands.add_parser(
        "doctor", parents=[parent], help="report the project's health; exit 1 on a problem"
    )
    doctor.add_argument(
        "--fix",
        action="store_true",
        help="end orphaned runs and finish a deployment a killed process left half done",
    )
    return parser


def cmd_demo_data(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.core.data.demo_data import DemoSpec, batch_name, write_demo_data
    from ml_pipeline.core.data.landing import scan_landing

    landing = config.dataset.landing_dir
    if args.if_empty and scan_landing(landing, config.dataset.patterns):
        print(f"{landing} already has landed files; no demo data written")
        return 0
    spec = DemoSpec(
        batches=args.batches,
        rows_per_batch=args.rows_per_batch,
        start=args.start,
        seed=args.seed,
        drift=args.drift,
        relation_changed=args.relation_change,
        label_noise=args.label_noise,
        file_format=args.format,
    )
    names = [batch_name(spec, i) for i in range(spec.batches)]
    # Landed files are the user's: a name already there keeps its file, and says so.
    existing = frozenset(name for name in names if (landing / name).exists())
    written = write_demo_data(spec, landing, config.data_dir / "demo_truth", existing)
    if existing:
        shown = ", ".join(sorted(existing)[:3]) + (", ..." if len(existing) > 3 else "")
        print(f"skipped {len(existing)} batch file(s) already in {landing}: {shown}")
    print(
        f"wrote {len(written)} batch files to {landing} "
        f"(ground truth of injected faults in {config.data_dir / 'demo_truth'})"
    )
    return 0


def _config_error(config: PipelineConfig, problem: str) -> int:
    print(f"config error: {config.source_path}: {problem}", file=sys.stderr)
    return 2


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def _busy(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 3


def cmd_run(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.commands.execution import run_pipeline
    from ml_pipeline.commands.project import open_project
    from ml_pipeline.core.data.config_faults import preflight
    from ml_pipeline.core.memory import give_back_large_blocks
    from ml_pipeline.core.project_lock import ProjectBusy

    problem = preflight(config.dataset, config.cleaning, config.contract_path)
    if problem:
        return _config_error(config, f"{problem}; nothing was ingested or moved")
    # Before any worker starts, so the ingest and search workers inherit it: each frees one
    # file's frames or one fit's trees before the next, which would otherwise stay resident.
    give_back_large_blocks()
    try:
        with open_project(config, "run", _note) as instance:
            summary = run_pipeline(
                config,
                instance,
                reingest=args.reingest,
                promotion=args.promote,
                retrain=args.retrain,
            )
    except ProjectBusy as error:
        return _busy(error)
    if args.json:
        print(json.dumps(summary.as_json(), indent=2, default=str))
    else:
        print("\n".join(summary.lines()))
    return 1 if summary.error else 0


def cmd_backfill(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.commands import backfill
    from ml_pipeline.core import names

    if args.end and not args.start:
        print("error: --to needs --from", file=sys.stderr)
        return 2
    version = args.rescore or args.remeasure
    scored = names.BATCH_PREDICTIONS if args.rescore else names.CHAMPION_PERFORMANCE
    asset = names.BATCH_PREDICTIONS if args.rescore else names.RAW_SAMPLES
    try:
        if version:
            from ml_pipeline.defs.resources import mlflow_store

            backfill.check_model_version(mlflow_store(config), version)
        if args.all:
            keys, described = None, "all partitions"
        else:
            requested = args.partitions.split(",") if args.partitions else None
            keys = backfill.select_partitions(
                backfill.partition_keys(args.url, asset), requested, args.start, args.end
            )
            described = f"{len(keys)} partition(s)"
        if version:
            described += f" of {scored} with model version {version}"
        params = backfill.backfill_params(
            keys, f"ml-pipeline: {described}", args.retrain, version, scored
        )
        backfill_id = backfill.launch(args.url, params)
        print(f"backfill {backfill_id}: {described}, following at {args.url}")
        final = backfill.follow(args.url, backfill_id, args.timeout, print)
    except backfill.BackfillError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed = final.failed_assets()
    if final.status in ("COMPLETED", "COMPLETED_SUCCESS") and not failed:
        print(f"backfill {backfill_id} succeeded")
        decision = backfill.promotion_decision(args.url, final.run_ids) if args.retrain else None
        if decision:
            print(f"promotion: {decision}")
        return 0
    reasons = [backfill.failure_reason(args.url, run) for run in final.failed_runs[:3]]
    reason = "; ".join(reasons) or final.error or "see the Dagster UI"
    print(f"error: backfill {backfill_id} ended {final.status}: {reason}", file=sys.stderr)
    return 1


def cmd_rollback(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.commands.execution import roll_back

    return _switch(config, "rollback", lambda instance: roll_back(config, instance))


def cmd_approve(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.commands.execution import approve_candidate

    return _switch(
        config, "approve", lambda instance: approve_candidate(config, instance, args.version)
    )


def _switch(config: PipelineConfig, command: str, switch) -> int:
    """Run a champion switch (rollback, approval) under the project lock and report it."""
    from ml_pipeline.commands.project import open_project
    from ml_pipeline.core.project_lock import ProjectBusy

    try:
        with open_project(config, command, _note) as instance:
            outcome = switch(instance)
    except ProjectBusy as error:
        return _busy(error)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"champion: version {outcome.from_version} -> {outcome.to_version}")
    print(f"artifact: {outcome.artifact_path} -> v{outcome.to_version}")
    if outcome.reference_note:
        print(f"note: {outcome.reference_note}")
    return 0


def cmd_reject(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.core.deploy.switch import reject
    from ml_pipeline.core.ownership import person
    from ml_pipeline.defs.resources import mlflow_store

    try:
        reject(mlflow_store(config), args.version, person(), config.deploy_dir)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"version {args.version} rejected; the champion serves on")
    return 0


def cmd_labels(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.commands.labels import hand_in_labels

    try:
        handed = hand_in_labels(config, args.file)
    except (OSError, ValueError) as error:  # LabelFileError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 1
    said = "already there as" if handed.already_there else "copied to"
    print(f"{args.file.name}: {handed.usable} of {handed.rows} row(s) usable; {said} {handed.path}")
    if handed.usable < handed.rows:
        print(f"note: {handed.rows - handed.usable} row(s) lack an id or a value", file=sys.stderr)
    print("prediction_monitoring joins them to the served predictions on its next run")
    return 0


def cmd_history(config: PipelineConfig, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ml_pipeline.core.deploy.history import history_lines, promotion_history
    from ml_pipeline.defs.resources import mlflow_store

    entries = promotion_history(mlflow_store(config))
    if args.json:
        print(json.dumps([asdict(entry) for entry in entries], indent=2))
    else:
        print("\n".join(history_lines(entries)) or "no promotion decision yet")
    return 0


def cmd_serve(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.serving.app import serve
    from ml_pipeline.serving.service import token_from_environment

    try:
        token = token_from_environment()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    serve(
        config,
        host=args.host or config.serving.host,
        port=args.port or config.serving.port,
        token=token,
    )
    return 0


def cmd_ui(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.runtime.instance import ensure_dagster_home

    os.environ["DAGSTER_HOME"] = str(ensure_dagster_home(config))
    os.environ[CONFIG_ENV_VAR] = str(config.source_path)
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    command = [
        dagster,
        "dev",
        "-m",
        "ml_pipeline.definitions",
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    os.execvp(command[0], command)
    return 0  # unreachable: execvp replaces this process


def cmd_worker(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.defs.cluster import worker_command, worker_environment
    from ml_pipeline.runtime.instance import ensure_dagster_home

    if config.dagster.executor != "celery":
        return _config_error(
            config, "dagster.executor is not 'celery': no broker to take steps from"
        )
    try:
        os.environ.update(worker_environment(config))
    except ValueError as error:
        return _config_error(config, str(error))
    # The worker opens the instance and the code location from these, as the daemon does.
    os.environ["DAGSTER_HOME"] = str(ensure_dagster_home(config))
    os.environ[CONFIG_ENV_VAR] = str(config.source_path)
    # dagster-celery starts `celery` from PATH: the one installed beside this Python.
    here = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([here, os.environ.get("PATH", "")])
    executable = shutil.which("dagster-celery", path=here)
    command = worker_command(executable or "dagster-celery", config, args.name)
    os.execvp(command[0], command)
    return 0  # unreachable: execvp replaces this process


def cmd_mlflow_ui(config: PipelineConfig, args: argparse.Namespace) -> int:
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    command = [
        mlflow,
        "ui",
        "--backend-store-uri",
        config.mlflow_tracking_uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    os.execvp(command[0], command)
    return 0


def cmd_forget(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.commands.forget import ForgetRefused, forget_partition
    from ml_pipeline.commands.project import open_project
    from ml_pipeline.core.project_lock import ProjectBusy

    try:
        with open_project(config, "forget", _note, deployment=False) as instance:
            done = forget_partition(config, instance, args.partition)
    except ProjectBusy as error:
        return _busy(error)
    except ForgetRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    tables = ", ".join(done.tables) or "nothing"
    print(f"forgot partition {done.partition}: removed {tables} from the warehouse")
    if done.landed_file is not None:
        print(
            f"{done.landed_file} stays where it is; recorded in {config.forgotten_path} "
            "so that it is not ingested again"
        )
    print("the next training leaves it out (`ml-pipeline run --retrain` to train now)")
    return 0


def cmd_contract(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.core.data import contract as contracts

    current = contracts.resolve_contract(config.contract_path, config.dataset)
    if current is None:
        print(
            f"error: no schema contract yet: it is inferred from the landed files, "
            f"or declared in dataset.columns ({config.source_path})",
            file=sys.stderr,
        )
        return 1
    if args.action == "show":
        print(current.to_json())
        return 0
    if config.dataset.columns:
        return _config_error(
            config, "dataset.columns declares the contract: change it there, not here"
        )
    with contracts.contract_lock(config.contract_path):
        current = contracts.load_contract(config.contract_path) or current
        try:
            if args.action == "add":
                updated = contracts.add_column(
                    current, config.dataset, args.column, args.kind, args.required
                )
            elif args.action == "kind":
                updated = contracts.set_kind(current, config.dataset, args.column, args.kind)
            else:
                updated = contracts.drop_column(current, args.column)
        except contracts.ContractError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        contracts.save_contract(updated, config.contract_path)
    print(f"contract version {updated.version}: {updated.history[-1]['change']}")
    return 0


def cmd_check_config(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_pipeline.core.data.config_faults import preflight

    problem = preflight(config.dataset, config.cleaning, config.contract_path)
    if problem:
        return _config_error(config, problem)
    if config.storage.shared is not None:
        from ml_pipeline.core.storage import writable_problem

        problem = writable_problem(config.shared_root)
        if problem:
            return _config_error(config, f"storage.shared: {problem}")
    if config.quality.expectations:
        from ml_pipeline.core.data.expectations import check_user_expectations

        try:
            check_user_expectations(config.quality)
        except ValueError as error:
            return _config_error(config, f"quality.expectations: {error}")
    print(
        f"{config.source_path}: valid ({config.dataset.task} on target "
        f"{config.dataset.target!r}, landing {config.dataset.landing_dir})"
    )
    return 0


def cmd_doctor(config: PipelineConfig, args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from ml_pipeline.commands.doctor import examine
    from ml_pipeline.commands.project import LOCK_NAME
    from ml_pipeline.core.project_lock import ProjectBusy, project_lock

    # Repairs wait for quiet; a report may run beside another command.
    guard = project_lock(config.data_dir / LOCK_NAME, "doctor") if args.fix else nullcontext()
    try:
        with guard:
            findings = examine(config, args.fix)
    except ProjectBusy as error:
        return _busy(error)
    for finding in findings:
        print(finding.line())
    return 0 if all(finding.ok for finding in findings) else 1


COMMANDS = {
    "demo-data": cmd_demo_data,
    "run": cmd_run,
    "rollback": cmd_rollback,
    "history": cmd_history,
    "labels": cmd_labels,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "worker": cmd_worker,
    "forget": cmd_forget,
    "contract": cmd_contract,
    "backfill": cmd_backfill,
    "serve": cmd_serve,
    "ui": cmd_ui,
    "mlflow-ui": cmd_mlflow_ui,
    "check-config": cmd_check_config,
    "doctor": cmd_doctor,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "edge-score":
        from ml_pipeline.edge.scorer import score_command

        return score_command(args)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](config, args)


def command() -> NoReturn:
    """The ``ml-pipeline`` program: :func:`main`, then the exit.

    Exiting, CPython runs its garbage collector once more over every object it tracks: the
    definitions, MLflow's and scikit-learn's modules, what a training left. After a
    training run that took about 1.8 s (docs/benchmarks.md), once the output was printed
    and every file and run was complete. Frozen objects are left out of that pass; their
    memory goes back with the process.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    command()
