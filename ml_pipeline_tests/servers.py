"""Starting and always stopping real processes in live tests.

Children get their own process group and default signal handlers: a parent that
ignores SIGINT/SIGTERM would otherwise pass that on, leaving servers behind.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A child reads its project from its own arguments, never from what the test process
# happens to hold.
PROJECT_VARIABLES = (
    "ML_PIPELINE_CONFIG",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "DAGSTER_HOME",
)


def child_environment(extra: dict | None) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in PROJECT_VARIABLES}
    return {**base, **(extra or {})}


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


@contextlib.contextmanager
def running(
    command: list[str], log: Path, env: dict | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen]:
    """Run ``command`` for the duration of the block; kill its whole group afterwards."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=child_environment(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
        try:
            yield process
        finally:
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue


def poll_until(condition, what: str, timeout: float = 30, every: float = 0.1):
    """Return ``condition()``'s first truthy value; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s: {what}")


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited early:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def run_to_end(
    command: list[str], env: dict | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """Run ``command`` to its end in its own process group; kill the group if it outlives
    ``timeout`` or the test is interrupted."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environment(env),
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


POSTGRES = "postgresql://postgres@127.0.0.1:5432"


@contextlib.contextmanager
def scratch_database(purpose: str) -> Iterator[str]:
    """A database of one test's or benchmark's own on the machine's PostgreSQL (trust
    auth), dropped afterwards even when the processes using it are still connected."""
    import psycopg2

    name = f"ml_pipeline_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(f"{POSTGRES}/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def graphql(url: str, query: str) -> dict:
    """The project's own GraphQL client (the one `ml-pipeline backfill` uses): an error
    in the answer fails the test with its message."""
    from ml_pipeline.commands.backfill import graphql as ask

    return ask(url, query, {})


def wait_until(what: str, predicate, timeout: float, log: Path) -> None:
    """Poll ``predicate`` every 2 s; fail naming ``what`` with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-4000:]}")
