"""The deploy folder: one complete export per version, and ``current`` leading to one.

Locally, ``v<N>`` folders are built aside and renamed into place, and ``current`` is
a symlink switched in one rename. On an object store (``storage.shared: s3://...``)
a version's files are uploaded and a completion marker is sent last, and ``current``
is a small object naming the version, replaced in one PUT. Either way a reader (the
scoring service, an edge device syncing the folder) sees a whole version or the
previous one, never half of either.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.core import storage
from ml_pipeline.core.fileio import atomic_directory, atomic_symlink

if TYPE_CHECKING:
    from ml_pipeline.core.storage import StoragePath
    from ml_pipeline.core.tracking import MlflowStore

CURRENT_LINK = "current"
_VERSION_DIR = re.compile(r"^v\d+$")


class DeployFolderError(RuntimeError):
    """``current`` names something that is not a version export of this folder."""


def _download(
    store: MlflowStore, version: str, into: Path, extra_files: dict[str, str | bytes]
) -> None:
    import mlflow.artifacts

    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{store.registered_model}/{version}",
        dst_path=str(into),
        tracking_uri=store.tracking_uri,
    )
    for name, content in extra_files.items():
        if isinstance(content, bytes):
            (into / name).write_bytes(content)
        else:
            (into / name).write_text(content, encoding="utf-8")


def is_complete(version_dir: StoragePath) -> bool:
    """A local export is complete once it exists (it was renamed into place whole)."""
    if storage.is_remote(version_dir):
        return storage.is_complete_upload(version_dir)
    return version_dir.is_dir()


def export_version(
    store: MlflowStore,
    version: str,
    deploy_dir: StoragePath,
    extra_files: dict[str, str | bytes],
) -> StoragePath:
    """Copy a registered version, plus ``extra_files``, to ``deploy_dir/v<version>``.

    The copy is either complete or not taken for one. An existing complete export is
    kept as it is; an interrupted upload is sent again.
    """
    target = deploy_dir / f"v{version}"
    if is_complete(target):
        return target
    if storage.is_remote(target):
        with tempfile.TemporaryDirectory(prefix="ml_pipeline-export-") as scratch:
            _download(store, version, Path(scratch), extra_files)
            storage.upload_folder(Path(scratch), target)
        return target
    with atomic_directory(target) as building:
        _download(store, version, building, extra_files)
    return target


def point_current(deploy_dir: StoragePath, version_dir: StoragePath) -> StoragePath:
    """Switch ``deploy_dir/current`` to ``version_dir`` in one step."""
    link = deploy_dir / CURRENT_LINK
    if storage.is_remote(deploy_dir):
        storage.write_bytes(link, f"{version_dir.name}\n".encode())
    else:
        atomic_symlink(link, version_dir.name)
    return link


def current_name(deploy_dir: StoragePath) -> str | None:
    """The ``v<N>`` folder ``current`` leads to, or None before the first deployment."""
    link = deploy_dir / CURRENT_LINK
    if storage.is_remote(deploy_dir):
        text = storage.read_text(link)
        name = text.strip() if text is not None else None
    elif os.path.islink(link):
        name = os.readlink(link)
    else:
        return None
    if name is not None and not _VERSION_DIR.match(name):
        raise DeployFolderError(f"{link}: leads to {name!r}, not a v<N> export of {deploy_dir}")
    return name


def fetch_current(deploy_dir: StoragePath, cache_dir: Path) -> Path | None:
    """A local folder holding the version ``current`` leads to on a storage URL,
    downloaded once per version into ``cache_dir``; None before the first deployment."""
    name = current_name(deploy_dir)
    if name is None:
        return None
    local = cache_dir / name
    if not local.is_dir():
        with atomic_directory(local) as building:
            storage.download_folder(deploy_dir / name, building)
    return local
