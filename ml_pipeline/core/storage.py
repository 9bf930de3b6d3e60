"""Where the bulk of the project's data lives: a local folder or an fsspec URL.

A local folder (a shared mount included) is a ``pathlib.Path`` and keeps every
guarantee of ``fileio``: temporary names and renames. A URL such as
``s3://bucket/prefix`` becomes a ``UPath`` over its fsspec filesystem. Object stores
have no rename, but a single PUT is atomic for readers: an object is there whole or
not at all. So a file is written locally first and sent in one request, and a folder
is complete only once its marker, sent last, is there.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import IO, Any

from ml_pipeline.locations import (  # noqa: F401  (re-exported: core's one storage module)
    SECRET_OPTIONS,
    StoragePath,
    check_protocol,
    is_url,
    location,
)

# Sent last when a folder is uploaded; a folder without it is an interrupted upload.
COMPLETE_MARKER = ".complete"


def is_remote(path: StoragePath) -> bool:
    return not isinstance(path, PurePath)


def options_of(path: StoragePath) -> dict[str, Any]:
    return dict(path.storage_options) if is_remote(path) else {}


@contextlib.contextmanager
def readable(path: StoragePath) -> Iterator[Path | IO[bytes]]:
    """Something pandas and pyarrow read from: the path itself, or an open remote file."""
    if not is_remote(path):
        yield path
        return
    with path.open("rb") as handle:
        yield handle


@contextlib.contextmanager
def staged_upload(target: StoragePath) -> Iterator[Path]:
    """Yield a local temporary file; on success send it to ``target`` in one request."""
    with tempfile.TemporaryDirectory(prefix="ml_pipeline-upload-") as folder:
        staged = Path(folder) / target.name
        yield staged
        target.fs.put_file(str(staged), target.path)


def write_bytes(path: StoragePath, data: bytes) -> None:
    """Replace ``path``'s content in one step: a rename locally, one PUT remotely."""
    if is_remote(path):
        path.fs.pipe_file(path.path, data)
        return
    from ml_pipeline.core.fileio import atomic_path

    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def read_text(path: StoragePath) -> str | None:
    """The file's text, or None when there is no such file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def upload_folder(local: Path, target: StoragePath) -> None:
    """Send every file under ``local`` to ``target``, then the completion marker."""
    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        destination = target.joinpath(*file.relative_to(local).parts)
        target.fs.put_file(str(file), destination.path)
    write_bytes(target / COMPLETE_MARKER, b"")


def is_complete_upload(folder: StoragePath) -> bool:
    return (folder / COMPLETE_MARKER).is_file()


def download_folder(source: StoragePath, local: Path) -> None:
    """Copy a completely uploaded folder to the empty local folder ``local``."""
    if not is_complete_upload(source):
        raise FileNotFoundError(f"{source}: no complete upload there (no {COMPLETE_MARKER})")
    prefix = source.path.rstrip("/") + "/"
    for remote in source.fs.find(source.path):
        relative = remote[len(prefix) :] if remote.startswith(prefix) else None
        if not relative or relative == COMPLETE_MARKER:
            continue
        destination = local / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        source.fs.get_file(remote, str(destination))


def writable_problem(root: StoragePath) -> str | None:
    """Why ``root`` cannot be written, in one line with its fix, or None: an object is
    written under it and removed again, as every table and export will be."""
    import uuid

    probe = root / f".ml_pipeline-probe-{uuid.uuid4().hex[:12]}"
    try:
        if not is_remote(root):
            root.mkdir(parents=True, exist_ok=True)
        write_bytes(probe, b"probe")
        probe.unlink()
    except Exception as error:  # every failure is the answer, named with its fix
        return f"{root} cannot be written: {_fix_for(root, error)}"
    return None


def _fix_for(root: StoragePath, error: Exception) -> str:
    from ml_pipeline.core.outages import one_line, outage

    if (outage(error) or "").startswith("missing bucket") and is_remote(root):
        bucket = root.path.split("/", 1)[0]
        return (
            f"the bucket {bucket!r} does not exist; create it (for example "
            f"`aws s3 mb s3://{bucket}`) or point storage.shared at one that does"
        )
    if isinstance(error, PermissionError):
        return f"permission denied ({one_line(error)}); grant this user write access"
    return one_line(error)
