"""A short soak: files land one by one under a real `dagster dev` with its sensors, while
faults are injected, and at the end nothing is lost, stuck or reported unhealthy.

Forty demo days land three seconds apart (the clock is short, the logic is the one that
runs for months). Among them: odd files (infinities, an empty file, a repeated header,
semicolons, a BOM with CRLF, one row), a storage outage (the warehouse's raw_samples
folder made immutable for a while, so every write there fails with EPERM, even as root),
and SIGKILLs of whatever run is executing at two moments. Then every landed file must be
ingested or quarantined with a reason, no run may be left active, no MLflow run RUNNING,
a champion deployed, and `ml-pipeline doctor` clean.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.data.landing import partition_key_for
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.ownership import PID_TAG
from ml_pipeline.doctor import examine
from ml_pipeline.resources import resources_for
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.live import free_port, running, wait_for_http
from ml_pipeline_tests.mutations import Mutation, apply, good_batch
from ml_pipeline_tests.test_live_dagster import graphql, wait_until

pytestmark = pytest.mark.slow

FILES = 40
EVERY_SECONDS = 3.0
OUTAGE_FROM, OUTAGE_FILES = 12, 4  # the outage spans these landings
KILL_AT = (20, 31)
ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def odd_file(day: int) -> tuple[str, bytes] | None:
    """The odd file landed on ``day``, or None for a good one."""
    frame = good_batch(day)
    name = f"bikes_{day:03d}"
    match day:
        case 5:
            frame = apply(frame, Mutation("special_number", "temp", "inf", tuple(range(20))))
        case 9:
            return f"{name}.csv", b""
        case 14:
            header = ",".join([*frame.columns, "temp"]) + "\n"
            return f"{name}.csv", (header + "1," * len(frame.columns) + "1\n").encode()
        case 17:
            return f"{name}.csv", frame.head(1).to_csv(index=False).encode()
        case 24:
            return f"{name}.csv", frame.to_csv(index=False, sep=";").encode()
        case 27:
            text = frame.to_csv(index=False, lineterminator="\r\n")
            return f"{name}.csv", b"\xef\xbb\xbf" + text.encode()
        case _:
            return None
    return f"{name}.csv", frame.to_csv(index=False).encode()


def land(landing: Path, name: str, data: bytes) -> None:
    """As a careful client does: written under a name the pattern skips, then renamed."""
    staged = landing / f".{name}.part"
    staged.write_bytes(data)
    staged.rename(landing / name)


@contextlib.contextmanager
def immutable(folder: Path):
    """Writes into ``folder`` fail with EPERM, for root too, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def active_runs(url: str) -> list[dict]:
    query = (
        "{ runsOrError(limit: 200) { ... on Runs { results "
        "{ runId jobName status tags { key value } } } } }"
    )
    return [r for r in graphql(url, query)["runsOrError"]["results"] if r["status"] in ACTIVE]


def kill_a_running_run(url: str) -> str | None:
    """SIGKILL the process of one executing run, as an OOM kill would; its job name."""
    for run in active_runs(url):
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if run["status"] == "STARTED" and PID_TAG in tags:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(tags[PID_TAG]), signal.SIGKILL)
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


def test_a_compressed_month_of_files_with_faults_ends_clean(tmp_path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is needed to make a folder unwritable for root")
    document = bike_document(
        sensor={
            "interval_seconds": 1,
            "settle_seconds": 0,
            "wave_end_interval_seconds": 1,
            "retry_after_seconds": 2,
            "ingest_retries": 5,
        },
        retraining={"min_new_partitions": 20},
    )
    config = load_config(write_config(tmp_path, document))
    landing = config.dataset.landing_dir
    landing.mkdir(parents=True)
    port = free_port()
    log = tmp_path / "dagster.log"
    cli = shutil.which("ml-pipeline", path=str(Path(sys.executable).parent))
    command = [cli, "ui", "--port", str(port), "--config", str(config.source_path)]
    landed: dict[str, bytes] = {}
    faults = {"odd files": 0, "outage landings": 0, "runs killed": []}
    with running(command, log) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/server_info", server, log, timeout=180)
        outage = contextlib.ExitStack()
        for day in range(FILES):
            if day == OUTAGE_FROM:
                outage.enter_context(immutable(config.warehouse_dir / "raw_samples"))
            if day == OUTAGE_FROM + OUTAGE_FILES:
                outage.close()
            if day in KILL_AT:
                faults["runs killed"].append(kill_a_running_run(url))
            name, data = odd_file(day) or (
                f"bikes_{day:03d}.csv",
                good_batch(day).to_csv(index=False).encode(),
            )
            faults["odd files"] += odd_file(day) is not None
            faults["outage landings"] += OUTAGE_FROM <= day < OUTAGE_FROM + OUTAGE_FILES
            land(landing, name, data)
            landed[name] = data
            time.sleep(EVERY_SECONDS)
        outage.close()

        left: list[str] = []

        def settled() -> bool:
            left[:] = unaccounted(config, landed) + [r["jobName"] for r in active_runs(url)]
            return not left

        try:
            wait_until("every landed file accounted for, and no run active", settled, 600, log)
        except AssertionError as error:
            raise AssertionError(f"still open: {left}; faults: {faults}\n{error}") from None
        time.sleep(5)  # a training the last ingest earned may still be requested
        wait_until("no run active", lambda: not active_runs(url), 300, log)

        print(json.dumps(faults))
        assert unaccounted(config, landed) == []
        store = resources_for(config)["mlflow"].get()
        assert store.running_runs() == {}
        assert store.champion() is not None
        assert (config.deploy_dir / "current" / "MLmodel").is_file()
        problems = [f.line() for f in examine(config, fix=False) if not f.ok]
        assert problems == [], problems
