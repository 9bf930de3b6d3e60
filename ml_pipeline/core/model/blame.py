"""Find the partitions behind a fit that fails on data, and remember them.

Checks before training catch the faults they know of; this catches the rest. When
every candidate's fit fails, training bisects the partitions of its sample with one
failing configuration, names the partitions whose rows break it, and records them
beside the warehouse, so the run goes on without them and so does every later run,
until a partition's content changes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow.parquet as pq

from ml_pipeline.core import names
from ml_pipeline.core.data.warehouse import Warehouse

# A bisection names at most this many partitions; more is no single file's fault.
MAX_BLAMED = 3

# The error a fit on these partitions' rows raises, or None when it fits.
FitProbe = Callable[[list[str]], "str | None"]


@dataclass(frozen=True)
class Blame:
    """The partitions whose rows break the fit, each with the error it raised."""

    partitions: dict[str, str]
    # Why no partition was named, when none was.
    unresolved: str | None = None


def _culprit(keys: list[str], probe: FitProbe) -> tuple[str, str] | None:
    """One partition of ``keys`` (whose rows together fail) that fails on its own rows,
    halving the search each step; None when the fault needs rows of both halves."""
    while len(keys) > 1:
        half = len(keys) // 2
        left, right = keys[:half], keys[half:]
        if probe(left) is not None:
            keys = left
        elif probe(right) is not None:
            keys = right
        else:
            return None
    error = probe(keys)
    return (keys[0], error) if error is not None else None


def bisect(keys: list[str], probe: FitProbe, limit: int = MAX_BLAMED) -> Blame:
    """The partitions without which the fit succeeds, found by bisection.

    A partition is blamed only if its own rows fail the fit and the fit on the others
    succeeds: one whose rows fail alone for an unrelated reason (a single class, say)
    is cleared again once the true culprit is found, and a fault that needs several
    partitions' rows together blames none.
    """
    error = probe(keys)
    if error is None:
        return Blame({}, "the fit succeeded with the candidate's fixed parameters")
    blamed: dict[str, str] = {}
    rest = list(keys)
    while error is not None:
        if len(blamed) == limit or len(rest) < 2:
            return Blame({}, f"the fit still fails without {', '.join(blamed) or 'any one'}")
        found = _culprit(rest, probe)
        if found is None:
            return Blame({}, "the fault needs rows of several partitions together")
        key, why = found
        blamed[key] = why
        rest.remove(key)
        error = probe(rest)
    innocent = [key for key in blamed if len(blamed) > 1 and probe([*rest, key]) is None]
    return Blame({key: why for key, why in blamed.items() if key not in innocent})


def content_digest(footer: pq.FileMetaData) -> str:
    """The identity of a partition's content: its footer's rows, schema and statistics.
    A re-ingest of the same file gives the same digest; a changed file, another."""
    described = repr(footer.to_dict()).encode()
    return hashlib.sha256(described).hexdigest()[:16]


def record(warehouse: Warehouse, blamed: dict[str, str], run: str) -> None:
    """Remember each blamed partition, with its content digest, for later runs."""
    for key, error in blamed.items():
        digest = content_digest(warehouse.footer(names.FEATURES, key))
        row = {"error": [error], "digest": [digest], "run": [run], "at": [time.time()]}
        warehouse.write(names.FIT_FAULTS, key, pd.DataFrame(row))


def known_faults(warehouse: Warehouse) -> set[str]:
    """The partitions some training blamed (listed once, not probed one by one)."""
    return set(warehouse.partitions(names.FIT_FAULTS))


def known_fault(warehouse: Warehouse, key: str, footer: pq.FileMetaData) -> str | None:
    """Why blamed partition ``key`` is still left out of training: a fit failed on its
    rows and its content has not changed since; None once it has."""
    fault = warehouse.read(names.FIT_FAULTS, key).iloc[0]
    if fault["digest"] != content_digest(footer):
        return None
    return (
        f"a fit failed on its rows (training run {fault['run']}): {fault['error']}; "
        "it is tried again once its content changes"
    )
