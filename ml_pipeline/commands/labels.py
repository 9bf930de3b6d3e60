"""``ml-pipeline labels FILE``: hand in late labels for served predictions.

The file is checked (its id and target columns are read) and copied into the labels
folder, where ``prediction_monitoring`` joins it to the prediction log. The user's file
is left where it is; a different file of the same name is kept beside the first under
a name with its digest, never over it.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.fileio import atomic_path
from ml_pipeline.core.monitor.live import (
    LABEL_SUFFIXES,
    ROW_ID,
    TRUTH,
    label_id_column,
    read_label_file,
)


@dataclass(frozen=True)
class HandedIn:
    path: Path
    rows: int
    usable: int
    already_there: bool


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _suffix(name: str) -> str:
    lowered = name.lower()
    return next(s for s in sorted(LABEL_SUFFIXES, key=len, reverse=True) if lowered.endswith(s))


def hand_in_labels(config: PipelineConfig, source: Path) -> HandedIn:
    """Check ``source`` as a labels file and copy it into the labels folder."""
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    if not source.name.lower().endswith(LABEL_SUFFIXES):
        raise ValueError(f"{source.name}: a labels file ends in {', '.join(LABEL_SUFFIXES)}")
    dataset = config.dataset
    frame = read_label_file(
        source, label_id_column(dataset.id_columns), dataset.target, dataset.task
    )
    usable = int((frame[ROW_ID].notna() & frame[TRUTH].notna()).sum())
    folder = config.labels_dir
    target = folder / source.name
    digest = _digest(source)
    if target.exists():
        if _digest(target) == digest:
            return HandedIn(target, len(frame), usable, already_there=True)
        suffix = _suffix(source.name)
        target = folder / f"{source.name[: -len(suffix)]}-{digest[:12]}{suffix}"
        if target.exists():
            return HandedIn(target, len(frame), usable, already_there=True)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
    return HandedIn(target, len(frame), usable, already_there=False)
