"""Atomic writes: temporary name first, then one rename into place.

A remote target (an fsspec URL, see ``ml_pipeline.core.storage``) has no rename: the
file is written locally and sent in one request, which readers see whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from ml_pipeline.core.storage import StoragePath, is_remote, staged_upload


def _default_mode(base: int) -> int:
    """``base`` less the process umask, the mode open() and mkdir() would have used."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


@contextlib.contextmanager
def atomic_path(target: StoragePath) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``target``; rename it into place on success.

    A crash or kill before the rename leaves ``target`` as it was. The temporary name
    starts with a dot so that folder scanners never mistake it for a landed file.
    """
    if is_remote(target):
        with staged_upload(target) as staged:
            yield staged
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(handle)
    temporary_path = Path(temporary)
    # mkstemp creates 0600; published files should read like any other the user writes.
    os.chmod(temporary_path, _default_mode(0o666))
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary_path.unlink()


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty hidden directory beside ``target``; rename it to ``target`` on success.

    ``target`` must not exist yet: directories cannot be replaced atomically, so callers
    write versioned directories and switch a symlink (see :func:`atomic_symlink`).
    """
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(temporary, _default_mode(0o777))
    try:
        yield temporary
        os.rename(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def atomic_symlink(link: Path, points_to: str) -> None:
    """Point ``link`` at ``points_to`` in one rename, so readers never see it missing."""
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.parent / f".{link.name}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(points_to)
    os.replace(temporary, link)


def _writer(path: Path) -> Callable[[pd.DataFrame, Path], None]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return lambda frame, out: frame.to_parquet(out, index=False)
    if name.endswith((".csv", ".csv.gz")):
        compression = "gzip" if name.endswith(".gz") else None
        return lambda frame, out: frame.to_csv(out, index=False, compression=compression)
    raise ValueError(f"{path}: unsupported file type (use .csv, .csv.gz or .parquet)")


def atomic_write_frame(frame: pd.DataFrame, path: Path) -> Path:
    write = _writer(path)
    with atomic_path(path) as temporary:
        write(frame, temporary)
    return path


def atomic_write_text(text: str, path: Path) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path
