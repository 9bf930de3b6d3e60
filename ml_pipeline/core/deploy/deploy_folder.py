"""The deploy folder: one complete export per version, and ``current`` leading to one.

Locally, ``v<N>`` folders are built aside and renamed into place, and ``current`` is
a symlink switched in one rename. On an object store (``storage.shared: s3://...``)
a version's files are uploaded and a completion marker is sent last, and ``current``
is a small object naming the version, replaced in one PUT. Either way a reader (the
scoring service, an edge device syncing the folder) sees a whole version or the
previous one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.core import storage
from ml_pipeline.core.fileio import atomic_directory, atomic_symlink

if TYPE_CHECKING:
    from ml_pipeline.core.storage import StoragePath
    from ml_pipeline.core.tracking import MlflowStore

CURRENT_LINK = "current"
# What the scoring service also scores, off its hot path: a candidate awaiting approval
# (``v<N>``) or, with ``serving.shadow``, the latest challenger that lost (``run-<id>``).
SHADOW_LINK = "shadow"
_VERSION_DIR = re.compile(r"^v\d+$")
_SHADOW_DIR = re.compile(r"^(v\d+|run-[0-9a-f]+)$")


class DeployFolderError(RuntimeError):
    """``current`` names something that is not a version export of this folder."""


def _download(
    store: MlflowStore, artifact_uri: str, into: Path, extra_files: dict[str, str | bytes]
) -> None:
    import mlflow.artifacts

    mlflow.artifacts.download_artifacts(
        artifact_uri=artifact_uri,
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
    uri = f"models:/{store.registered_model}/{version}"
    return _export(store, uri, deploy_dir / f"v{version}", extra_files)


def export_challenger(
    store: MlflowStore, model_uri: str, run_id: str, deploy_dir: StoragePath
) -> StoragePath:
    """Copy a challenger that was not registered (it lost) to ``deploy_dir/run-<id>``,
    for the scoring service to shadow; its card names the run."""
    card = f'{{"version": "run-{run_id}", "model": "challenger", "run_id": "{run_id}"}}'
    return _export(store, model_uri, deploy_dir / f"run-{run_id}", {"model_card.json": card})


def prune_challengers(deploy_dir: StoragePath, keep: str | None) -> list[str]:
    """Remove the ``run-<id>`` exports of challengers no longer shadowed, all but ``keep``.

    One is exported per kept training with ``serving.shadow``; without pruning a daily
    retraining would leave a year of them. Registered versions (``v<N>``) are never
    touched. Returns the names removed."""
    removed = []
    if not storage.is_remote(deploy_dir) and not deploy_dir.is_dir():
        return removed
    for path in deploy_dir.iterdir():
        if path.name == keep or not _SHADOW_DIR.match(path.name) or path.name.startswith("v"):
            continue
        if storage.is_remote(path):
            path.fs.rm(path.path, recursive=True)
        else:
            shutil.rmtree(path)
        removed.append(path.name)
    return sorted(removed)


def _export(
    store: MlflowStore, uri: str, target: StoragePath, extra_files: dict[str, str | bytes]
) -> StoragePath:
    if is_complete(target):
        return target
    if storage.is_remote(target):
        with tempfile.TemporaryDirectory(prefix="ml_pipeline-export-") as scratch:
            _download(store, uri, Path(scratch), extra_files)
            storage.upload_folder(Path(scratch), target)
        return target
    with atomic_directory(target) as building:
        _download(store, uri, building, extra_files)
    return target


def point_current(
    deploy_dir: StoragePath, version_dir: StoragePath, name: str = CURRENT_LINK
) -> StoragePath:
    """Switch ``deploy_dir/current`` (or the link ``name``) to ``version_dir`` in one step."""
    link = deploy_dir / name
    if storage.is_remote(deploy_dir):
        storage.write_bytes(link, f"{version_dir.name}\n".encode())
    else:
        atomic_symlink(link, version_dir.name)
    return link


def remove_link(deploy_dir: StoragePath, name: str) -> None:
    """Take the link ``name`` away; the export it led to stays."""
    link = deploy_dir / name
    if storage.is_remote(deploy_dir) or os.path.islink(link):
        with contextlib.suppress(FileNotFoundError):
            link.unlink()


def current_name(deploy_dir: StoragePath, name: str = CURRENT_LINK) -> str | None:
    """The ``v<N>`` folder ``current`` (or the link ``name``) leads to, or None before the
    first deployment."""
    link = deploy_dir / name
    pattern = _SHADOW_DIR if name == SHADOW_LINK else _VERSION_DIR
    if storage.is_remote(deploy_dir):
        text = storage.read_text(link)
        name = text.strip() if text is not None else None
    elif os.path.islink(link):
        name = os.readlink(link)
    else:
        return None
    if name is not None and not pattern.match(name):
        raise DeployFolderError(f"{link}: leads to {name!r}, not a v<N> export of {deploy_dir}")
    return name


def fetch_current(
    deploy_dir: StoragePath, cache_dir: Path, name: str = CURRENT_LINK
) -> Path | None:
    """A local folder holding the version ``current`` (or the link ``name``) leads to on a
    storage URL, downloaded once per version into ``cache_dir``; None before the first
    deployment."""
    target = current_name(deploy_dir, name)
    if target is None:
        return None
    local = cache_dir / target
    if not local.is_dir():
        with atomic_directory(local) as building:
            storage.download_folder(deploy_dir / target, building)
    return local
