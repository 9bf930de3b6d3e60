"""A soak: files land one by one under a real `ml-pipeline ui` (`dagster dev` with its
sensors) while faults are injected; at the end nothing may be lost, stuck or unhealthy.

The clock is short and the logic is the one that runs for months. Faults: odd files
(infinities, an empty file, a repeated header, semicolons, a BOM with CRLF, one row,
text in a number column), a storage outage (the warehouse's raw_samples folder made
immutable for a while, so every write there fails with EPERM, even as root), and
SIGKILLs of whatever run is executing. The short test (``test_soak.py``) and the
month-long benchmark (``bench/soak_bench.py``) share this driver.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml_pipeline.commands.doctor import examine
from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch
from ml_pipeline.core.data.landing import partition_key_for
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.ownership import Owner
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.mutations import Mutation, apply
from ml_pipeline_tests.servers import free_port, graphql, running, wait_for_http, wait_until

ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
ROWS_PER_FILE = 48


def _inf_column(frame: pd.DataFrame) -> bytes:
    return (
        apply(frame, Mutation("special_number", "temp", "inf", tuple(range(20))))
        .to_csv(index=False)
        .encode()
    )


def _repeated_header(frame: pd.DataFrame) -> bytes:
    header = ",".join([*frame.columns, "temp"]) + "\n"
    return (header + "1," * len(frame.columns) + "1\n").encode()


def _text_in_numbers(frame: pd.DataFrame) -> bytes:
    return frame.assign(humidity="n/a").to_csv(index=False).encode()


# Each odd file a client has sent, made from a good batch.
ODD_FILES: dict[str, Callable[[pd.DataFrame], bytes]] = {
    "infinities": _inf_column,
    "empty file": lambda frame: b"",
    "repeated header": _repeated_header,
    "one row": lambda frame: frame.head(1).to_csv(index=False).encode(),
    "semicolons": lambda frame: frame.to_csv(index=False, sep=";").encode(),
    "BOM and CRLF": lambda frame: (
        b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\r\n").encode()
    ),
    "text in a number column": _text_in_numbers,
}


@dataclass(frozen=True)
class Plan:
    """What lands when: ``files`` landings ``every_seconds`` apart."""

    files: int
    every_seconds: float
    odd: dict[int, str]  # landing -> ODD_FILES kind
    outages: tuple[tuple[int, int], ...]  # (first landing, landings it spans)
    kills: tuple[int, ...]  # landings before which an executing run is SIGKILLed
    retrain_every: int  # new partitions that call for a retraining
    drift: bool = False  # the relation drifts over the landings: the champion should change

    def in_outage(self, day: int) -> bool:
        return any(start <= day < start + span for start, span in self.outages)


def random_plan(
    files: int, every_seconds: float, seed: int, retrain_every: int, fault_rate: float = 0.05
) -> Plan:
    """Faults at random, each landing with ``fault_rate`` odds of an odd file and of a
    kill, and one outage of a few landings per hundred."""
    rng = random.Random(seed)
    odd = {day: rng.choice(sorted(ODD_FILES)) for day in range(files) if rng.random() < fault_rate}
    kills = tuple(day for day in range(5, files) if rng.random() < fault_rate)
    starts = sorted(rng.sample(range(10, files - 10), max(1, files // 100)))
    outages = tuple((start, rng.randint(2, 6)) for start in starts)
    return Plan(files, every_seconds, odd, outages, kills, retrain_every, drift=True)


def batch(day: int, plan: Plan) -> pd.DataFrame:
    """The good batch of ``day``, as its CSV would be read: every value text."""
    spec = DemoSpec(
        batches=plan.files,
        rows_per_batch=ROWS_PER_FILE,
        drift=plan.drift,
        faults=FaultRates(0.0, 0.0, 0.0, 0.0),
    )
    raw, _ = generate_batch(spec, day)
    return raw.astype(str).reset_index(drop=True)


def land(landing: Path, name: str, data: bytes) -> None:
    """As a careful client does: written under a name the pattern skips, then renamed."""
    staged = landing / f".{name}.part"
    staged.write_bytes(data)
    staged.rename(landing / name)


def can_make_immutable(scratch: Path) -> str | None:
    """Why a folder cannot be made unwritable for root here, or None."""
    if shutil.which("chattr") is None:
        return "chattr (e2fsprogs) is needed to make a folder unwritable for root"
    scratch.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["chattr", "+i", str(scratch)], capture_output=True, check=False)
    if made.returncode != 0:
        return f"chattr +i is not supported here: {made.stderr.decode().strip()}"
    subprocess.run(["chattr", "-i", str(scratch)], check=True)
    return None


@contextlib.contextmanager
def immutable(folder: Path):
    """Writes into ``folder`` fail with EPERM, for root too, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def runs(url: str, limit: int = 200) -> list[dict]:
    query = (
        f"{{ runsOrError(limit: {limit}) {{ ... on Runs {{ results "
        "{ runId jobName status tags { key value } } } } }"
    )
    return graphql(url, query)["runsOrError"]["results"]


def active_runs(url: str) -> list[dict]:
    return [r for r in runs(url) if r["status"] in ACTIVE]


def kill_a_running_run(url: str) -> str | None:
    """SIGKILL the process of one executing run, as an OOM kill would; its job name."""
    for run in active_runs(url):
        tags = {t["key"]: t["value"] for t in run["tags"]}
        owner = Owner.from_tags(tags)
        if run["status"] == "STARTED" and owner is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner.pid, signal.SIGKILL)
                return run["jobName"]
    return None


def unaccounted(config: PipelineConfig, landed: dict[str, bytes]) -> list[str]:
    """Landed files neither quarantined with a reason nor ingested unchanged."""
    warehouse = Warehouse(config.warehouse_dir)
    missing = []
    for name, data in landed.items():
        quarantined = config.quarantine_dir / name
        if quarantined.exists():
            reason = (config.quarantine_dir / f"{name}.reason.txt").read_text()
            if quarantined.read_bytes() != data or "reason: " not in reason:
                missing.append(f"{name} (quarantined without its bytes or reason)")
        elif not warehouse.exists("features", partition_key_for(name)):
            missing.append(name)
        elif (config.dataset.landing_dir / name).read_bytes() != data:
            missing.append(f"{name} (changed in the landing folder)")
    return missing


@dataclass
class Report:
    """What a soak landed, injected and found at its end."""

    files_landed: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    # Of each kind of fault, how many ended clean: the file accounted for, or (a kill)
    # no run left active and no MLflow run RUNNING.
    survived: dict[str, int] = field(default_factory=dict)
    runs_killed: list[str] = field(default_factory=list)
    ingested: int = 0
    quarantined: int = 0
    rows_landed: int = 0
    rows_ingested: int = 0
    unaccounted: list[str] = field(default_factory=list)
    active_runs: list[str] = field(default_factory=list)
    mlflow_running: int = 0
    champion: str | None = None
    versions: int = 0  # registered: the first champion and every promotion after it
    deployed: bool = False
    trainings: int = 0
    doctor_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    @property
    def faults_survived(self) -> int:
        return sum(self.survived.values())

    @property
    def rows_lost(self) -> int:
        return self.rows_landed - self.rows_ingested


def _project(root: Path, plan: Plan) -> PipelineConfig:
    document = bike_document(
        sensor={
            "interval_seconds": 1,
            "settle_seconds": 0,
            "wave_end_interval_seconds": 1,
            "retry_after_seconds": 2,
            "ingest_retries": 5,
        },
        retraining={"min_new_partitions": plan.retrain_every},
    )
    return load_config(write_config(root, document))


def _landings(plan: Plan, day: int) -> tuple[str, bytes, str | None]:
    """The file landed on ``day``: its name, bytes, and the odd-file kind if odd."""
    name = f"bikes_{day:04d}.csv"
    good = batch(day, plan)
    kind = plan.odd.get(day)
    if kind is None:
        return name, good.to_csv(index=False).encode(), None
    return name, ODD_FILES[kind](good), kind


def soak(root: Path, plan: Plan, settle_seconds: float = 600, log: Path | None = None) -> Report:
    """Land ``plan``'s files under a real `ml-pipeline ui` in ``root``, inject its faults,
    wait up to ``settle_seconds`` for the files and runs to settle (a backlog of queued
    ingest runs takes its time), and report what the project ended with."""
    config = _project(root, plan)
    landing = config.dataset.landing_dir
    landing.mkdir(parents=True)
    port = free_port()
    log = log or root / "dagster.log"
    cli = shutil.which("ml-pipeline", path=str(Path(sys.executable).parent))
    command = [cli, "ui", "--port", str(port), "--config", str(config.source_path)]
    report = Report(faults={"odd files": 0, "outage landings": 0, "runs killed": 0})
    landed: dict[str, bytes] = {}
    faulty: dict[str, list[str]] = {"odd files": [], "outage landings": []}
    started = time.monotonic()
    with running(command, log) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/server_info", server, log, timeout=180)
        with contextlib.ExitStack() as outage:
            away = False
            for day in range(plan.files):
                # Outages may overlap: storage is away from the first start to the last end.
                if plan.in_outage(day) != away:
                    if away:
                        outage.close()
                    else:
                        outage.enter_context(immutable(config.warehouse_dir / "raw_samples"))
                    away = not away
                if day in plan.kills:
                    killed = kill_a_running_run(url)
                    if killed is not None:
                        report.runs_killed.append(killed)
                        report.faults["runs killed"] += 1
                name, data, kind = _landings(plan, day)
                if kind is not None:
                    faulty["odd files"].append(name)
                if plan.in_outage(day):
                    faulty["outage landings"].append(name)
                land(landing, name, data)
                landed[name] = data
                time.sleep(plan.every_seconds)
        left: list[str] = []

        def settled() -> bool:
            left[:] = unaccounted(config, landed) + [r["jobName"] for r in active_runs(url)]
            return not left

        try:
            wait_until(
                "every landed file accounted for, and no run active", settled, settle_seconds, log
            )
        except AssertionError as error:
            raise AssertionError(f"still open: {left}; report: {report}\n{error}") from None
        time.sleep(5)  # a training the last ingest earned may still be requested
        wait_until("no run active", lambda: not active_runs(url), settle_seconds, log)
        every_run = runs(url, limit=100_000)
    report.seconds = round(time.monotonic() - started, 1)
    _account(report, config, landed, every_run)
    for kind, names in faulty.items():
        report.faults[kind] = len(names)
        lost = {entry.split(" (")[0] for entry in report.unaccounted}
        report.survived[kind] = len([name for name in names if name not in lost])
    clean = not report.active_runs and not report.mlflow_running
    report.survived["runs killed"] = report.faults["runs killed"] if clean else 0
    return report


def _account(
    report: Report, config: PipelineConfig, landed: dict[str, bytes], every_run: list[dict]
) -> None:
    warehouse = Warehouse(config.warehouse_dir)
    report.files_landed = len(landed)
    report.unaccounted = unaccounted(config, landed)
    report.quarantined = sum((config.quarantine_dir / name).exists() for name in landed)
    report.ingested = report.files_landed - report.quarantined - len(report.unaccounted)
    for name, data in landed.items():
        if (config.quarantine_dir / name).exists() or not data:
            continue
        with contextlib.suppress(Exception):  # an odd file the reader refused
            report.rows_landed += len(pd.read_csv(config.dataset.landing_dir / name))
        key = partition_key_for(name)
        if warehouse.exists("raw_samples", key):
            report.rows_ingested += warehouse.row_count("raw_samples", key)
    report.active_runs = [r["jobName"] for r in every_run if r["status"] in ACTIVE]
    report.trainings = sum(r["jobName"] == "training_job" for r in every_run)
    store = mlflow_store(config)
    report.mlflow_running = len(store.running_runs())
    champion = store.champion()
    report.champion = str(champion.version) if champion is not None else None
    if champion is not None:
        found = store.client().search_model_versions(f"name='{store.registered_model}'")
        report.versions = len(found)
    report.deployed = (config.deploy_dir / "current" / "MLmodel").is_file()
    report.doctor_problems = [f.line() for f in examine(config, fix=False) if not f.ok]
