"""One ``ml-pipeline`` command at a time changes a project.

The lock is an ``flock`` on a file in the project's data folder: the kernel releases
it when its process dies, however it dies, so a lock left by a killed process is
simply taken over. The file also names its holder, for the refusal message.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ml_pipeline.core.ownership import current_owner


class ProjectBusy(RuntimeError):
    """Another command holds the project's lock."""


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return (
            f"`ml-pipeline {holder['command']}` (process {holder['pid']} on host "
            f"{holder['host']}, started {holder['since']})"
        )
    except (ValueError, KeyError, TypeError):
        return "another ml-pipeline command"


@contextmanager
def project_lock(path: Path, command: str) -> Iterator[None]:
    """Hold the project's lock for ``command``; raises :class:`ProjectBusy` naming the
    holder when another living process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProjectBusy(
                f"{_holder(fd)} is working on this project; wait for it to finish (lock {path})"
            ) from None
        owner = current_owner()
        since = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        record = {"command": command, "pid": owner.pid, "host": owner.host, "since": since}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
