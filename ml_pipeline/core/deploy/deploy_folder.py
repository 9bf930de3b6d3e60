"""The deploy folder: one complete export per version, and ``current`` leading to one.

``v<N>`` folders are built aside and renamed into place; ``current`` is a symlink
switched in one rename. A reader (the scoring service, an edge device syncing the
folder) therefore sees a whole version or the previous one, never half of either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.core.fileio import atomic_directory, atomic_symlink

if TYPE_CHECKING:
    from ml_pipeline.core.tracking import MlflowStore

CURRENT_LINK = "current"


def export_version(
    store: MlflowStore, version: str, deploy_dir: Path, extra_files: dict[str, str]
) -> Path:
    """Copy a registered version, plus ``extra_files``, to ``deploy_dir/v<version>``.

    The copy is built in a temporary folder and renamed, so ``v<version>`` is either
    complete or absent. An existing export is kept as it is.
    """
    import mlflow.artifacts

    target = deploy_dir / f"v{version}"
    if not target.exists():
        with atomic_directory(target) as building:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{store.registered_model}/{version}",
                dst_path=str(building),
                tracking_uri=store.tracking_uri,
            )
            for name, text in extra_files.items():
                (building / name).write_text(text, encoding="utf-8")
    return target


def point_current(deploy_dir: Path, version_dir: Path) -> Path:
    """Switch ``deploy_dir/current`` to ``version_dir`` in one rename."""
    atomic_symlink(deploy_dir / CURRENT_LINK, version_dir.name)
    return deploy_dir / CURRENT_LINK
