"""Finding landed batch files and naming their partitions."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ml_pipeline.core.fileio import atomic_write_text

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SUFFIXES = (".csv.gz", ".csv", ".parquet")
# Editors and copy tools write under these names before renaming into place.
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")


@dataclass(frozen=True)
class LandedFile:
    path: Path
    partition_key: str
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


def _stem(file_name: str) -> str:
    lower = file_name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return file_name[: -len(suffix)]
    return file_name


def partition_key_for(file_name: str) -> str:
    """A partition key made of ``[A-Za-z0-9_.-]`` only, stable for a given file name.

    Names that needed changing (spaces, unicode, ``..``) get a short hash of the
    original name, so two different files can never share a key by sanitising alike.
    """
    stem = _stem(file_name)
    safe = _UNSAFE.sub("_", stem)
    while ".." in safe:
        safe = safe.replace("..", "_")
    safe = safe.strip("._-") or "file"
    if safe == stem:
        return safe
    digest = hashlib.sha256(file_name.encode("utf-8")).hexdigest()[:8]
    return f"{safe[:80]}-{digest}"


def matches(file_name: str, patterns: list[str]) -> bool:
    if file_name.startswith(".") or file_name.lower().endswith(_IN_PROGRESS_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(file_name.lower(), pattern.lower()) for pattern in patterns)


def scan_landing(
    landing_dir: Path,
    patterns: list[str],
    settle_seconds: float = 0.0,
    now: float | None = None,
) -> list[LandedFile]:
    """Landed files matching ``patterns``, oldest name first.

    A file modified less than ``settle_seconds`` ago may still be being written and
    is left for a later scan. Hidden and temporary names are never picked up.
    """
    if not landing_dir.is_dir():
        return []
    now_ns = int((time.time() if now is None else now) * 1e9)
    settle_ns = int(settle_seconds * 1e9)
    found = []
    with os.scandir(landing_dir) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False) or not matches(entry.name, patterns):
                continue
            stat = entry.stat(follow_symlinks=False)
            if now_ns - stat.st_mtime_ns < settle_ns:
                continue
            found.append(
                LandedFile(
                    path=Path(entry.path),
                    partition_key=partition_key_for(entry.name),
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                )
            )
    return sorted(found, key=lambda landed: landed.path.name)


def find_landed_file(landing_dir: Path, patterns: list[str], partition_key: str) -> Path:
    """The file behind ``partition_key``; raises FileNotFoundError naming the key."""
    matching = [f for f in scan_landing(landing_dir, patterns) if f.partition_key == partition_key]
    if not matching:
        raise FileNotFoundError(
            f"partition {partition_key!r}: no file matching {patterns} in {landing_dir}"
        )
    if len(matching) > 1:
        names = ", ".join(f.path.name for f in matching)
        raise ValueError(f"partition {partition_key!r}: several files share it ({names})")
    return matching[0].path


def content_digest(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def digests_with_cache(
    files: list[LandedFile], cache: dict[str, tuple[int, int, str]]
) -> dict[str, tuple[int, int, str]]:
    """Content digests per partition key, hashing only files whose size or mtime changed."""
    updated = {}
    for landed in files:
        cached = cache.get(landed.partition_key)
        if cached is not None and (cached[0], cached[1]) == landed.stamp:
            updated[landed.partition_key] = cached
        else:
            updated[landed.partition_key] = (*landed.stamp, content_digest(landed.path))
    return updated


def load_forgotten(path: Path) -> dict[str, str]:
    """Partition key -> content digest of landed files ``ml-pipeline forget`` set aside."""
    if not path.is_file():
        return {}
    return {key: entry["digest"] for key, entry in json.loads(path.read_text("utf-8")).items()}


def remember_forgotten(path: Path, partition_key: str, file_name: str, digest: str) -> None:
    """Record a forgotten file, which stays in the landing folder but is never ingested
    again while its content is the same (a new delivery under its name is)."""
    entries = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    entries[partition_key] = {
        "file": file_name,
        "digest": digest,
        "forgotten": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_text(json.dumps(entries, indent=2, sort_keys=True), path)


@dataclass(frozen=True)
class IngestPlan:
    new_partitions: list[str]
    runs: list[tuple[str, str]]  # (partition key, run key)
    digests: dict[str, tuple[int, int, str]]
    conflicts: list[str]
    forgotten: list[str] = field(default_factory=list)


def plan_ingest(
    files: list[LandedFile],
    known_partitions: set[str],
    requested: dict[str, tuple[int, int, str]],
    ingested: dict[str, str] | None = None,
    forgotten: dict[str, str] | None = None,
) -> IngestPlan:
    """Partitions to add, and ingest runs for file contents not requested before.

    ``requested`` maps each partition key to the (size, mtime, digest) last asked
    for; the returned ``digests`` is its next value. ``ingested`` maps partition
    keys to the digest they were last fully ingested from, by whatever started the
    run. The run key carries the content digest, so an unchanged file never runs
    twice (touching it only re-hashes it) and a file re-delivered with new content
    runs again. Two files whose names map to one key are reported and left alone
    rather than guessed between. A file forgotten with this very content is left alone.
    """
    ingested = ingested or {}
    forgotten = forgotten or {}
    by_key: dict[str, list[LandedFile]] = {}
    for landed in files:
        by_key.setdefault(landed.partition_key, []).append(landed)
    conflicts = sorted(
        f"{key}: " + ", ".join(f.path.name for f in group)
        for key, group in by_key.items()
        if len(group) > 1
    )
    unique = [group[0] for group in by_key.values() if len(group) == 1]
    digests = digests_with_cache(unique, requested)
    set_aside = [f for f in unique if forgotten.get(f.partition_key) == digests[f.partition_key][2]]
    unique = [f for f in unique if f not in set_aside]
    runs = [
        (f.partition_key, f"{f.partition_key}@{digests[f.partition_key][2]}")
        for f in unique
        if digests[f.partition_key][2]
        not in (requested.get(f.partition_key, (0, 0, ""))[2], ingested.get(f.partition_key))
    ]
    return IngestPlan(
        new_partitions=[f.partition_key for f in unique if f.partition_key not in known_partitions],
        runs=runs,
        digests={**requested, **digests},
        conflicts=conflicts,
        forgotten=[f.partition_key for f in set_aside],
    )


@dataclass(frozen=True)
class OutageFailure:
    """Ingest runs of one file content that failed for an outage: how many, the latest
    one's end (epoch seconds) and its outage."""

    partition_key: str
    digest: str
    attempts: int
    last_failed_at: float
    reason: str


def plan_retries(
    failures: list[OutageFailure],
    current: dict[str, str],
    ingested: dict[str, str],
    now: float,
    retry_after_seconds: float,
    max_retries: int,
) -> list[tuple[str, str, str]]:
    """(partition key, run key, retry note) for each file to try again now.

    A file is tried again while its content (``current``: key -> digest) is the one that
    failed and was not ingested since, up to ``max_retries`` times, each after twice the
    wait of the one before. A new delivery is planned by :func:`plan_ingest` instead.
    """
    retries = []
    for failure in failures:
        key, digest = failure.partition_key, failure.digest
        if current.get(key) != digest or ingested.get(key) == digest:
            continue
        if failure.attempts > max_retries:
            continue
        due = failure.last_failed_at + retry_after_seconds * 2 ** (failure.attempts - 1)
        if now < due:
            continue
        note = retry_note(failure.attempts + 1, max_retries + 1, failure.reason)
        retries.append((key, f"{key}@{digest}#retry{failure.attempts}", note))
    return retries


def retry_note(attempt: int, tries: int, reason: str) -> str:
    """The run tag of a file's retry: which try of how many, and after what."""
    return f"try {attempt} of {tries} after {reason}"


def retry_attempt(note: str | None) -> int:
    """Which try a run is, from its :func:`retry_note` (no note: the first)."""
    found = re.match(r"try (\d+) of", note or "")
    return int(found.group(1)) if found else 1
