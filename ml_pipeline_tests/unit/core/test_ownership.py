"""Owners of runs and of the project lock: alive, gone, or not ours to judge."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ml_pipeline.core.ownership import Owner, current_owner, process_start, this_host
from ml_pipeline.core.project_lock import ProjectBusy, project_lock


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_is_alive_and_survives_a_round_trip_through_tags() -> None:
    owner = current_owner()
    assert owner.pid == os.getpid() and owner.host == this_host()
    assert Owner.from_tags(owner.tags()) == owner
    assert owner.liveness() == "alive"


def test_the_owner_is_one_run_tag_and_a_malformed_one_names_no_owner() -> None:
    owner = Owner("node-7.cluster.example", 4242, "3f2a-boot:918273")
    assert len(owner.tags()) == 1
    assert Owner.from_tags(owner.tags()) == owner
    (key,) = owner.tags()
    for value in ("", "4242", "4242@", "x@host/1", "@host/1", "4242@host"):
        assert Owner.from_tags({key: value}) is None, value
    assert Owner.from_tags({}) is None


def test_an_exited_process_is_gone() -> None:
    pid = _dead_pid()
    assert process_start(pid) is None
    assert Owner(this_host(), pid, "").liveness() == "gone"


def test_a_reused_process_id_is_gone() -> None:
    # Our own id, but another start time: the process that owned it has died.
    stale = Owner(this_host(), os.getpid(), "another-boot:1")
    assert stale.liveness() == "gone"


def test_an_owner_on_another_host_is_never_judged_gone() -> None:
    assert Owner("elsewhere.example", _dead_pid(), "").liveness() == "unknown"


def test_a_zombie_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_start(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # exited but not yet reaped: a zombie
    try:
        assert process_start(child.pid) is None
    finally:
        child.wait()


HOLD = """
import sys, time
from pathlib import Path
from ml_pipeline.core.project_lock import project_lock
with project_lock(Path(sys.argv[1]), "run"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_command_is_refused_naming_the_first_and_a_dead_holder_is_taken_over(
    tmp_path,
) -> None:
    lock = tmp_path / "data" / "ml-pipeline.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        with pytest.raises(ProjectBusy) as refused, project_lock(lock, "forget"):
            pass
        message = str(refused.value)
        assert "`ml-pipeline run`" in message and f"process {holder.pid}" in message
        assert this_host() in message
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    with project_lock(lock, "run"):  # the kernel released the dead holder's lock
        assert lock.exists()
