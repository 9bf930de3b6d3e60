"""Which process owns a run or a lock, and whether that process still lives.

A process id alone is reused once its process has died; together with the process's
start time (and the boot it belongs to) it names one process for good. Liveness can
only be judged on the owner's own host: an owner elsewhere is ``unknown``, never gone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ml_pipeline.core.names import OWNER_TAG

Liveness = Literal["alive", "gone", "unknown"]
PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """A token for when ``pid`` started: ``None`` if there is no such living process
    (a zombie counts as dead), ``""`` where the platform does not say."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return None if PROC.joinpath("self").exists() else _exists_token(pid)
    except OSError:
        return _exists_token(pid)
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return f"{_boot_id()}:{fields[19]}"


def _exists_token(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, owned by someone else
    return ""


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str

    def tags(self) -> dict[str, str]:
        return {OWNER_TAG: f"{self.pid}@{self.host}/{self.start}"}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Owner | None:
        """The owner a run's tags name; None for a run without one or a malformed tag."""
        process, slash, start = tags.get(OWNER_TAG, "").partition("/")
        pid, at, host = process.partition("@")
        if not (slash and at and host and pid.isdigit()):
            return None
        return cls(host, int(pid), start)

    def describe(self) -> str:
        return f"process {self.pid} on host {self.host}"

    def liveness(self, host: str | None = None) -> Liveness:
        if self.host != (host or this_host()):
            return "unknown"
        start = process_start(self.pid)
        if start is None:
            return "gone"
        if self.start and start and start != self.start:
            return "gone"  # the id now belongs to another process
        return "alive"


def this_host() -> str:
    return socket.gethostname()


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(this_host(), pid, process_start(pid) or "")


def person() -> str:
    """``user@host`` of whoever runs this process: who a command's decisions are
    recorded as made by. A user with no passwd entry (some containers) is their uid."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"
