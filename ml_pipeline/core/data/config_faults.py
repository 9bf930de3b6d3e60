"""Telling a config mistake from a bad file, before any file is quarantined.

When a column that config names is in none of the landed files (nor in the contract
inferred from earlier files), every file would fail for the same reason: the config
is at fault, not the files. Such a run stops and names the key, with a near match
from the files' headers; landing folders are often shared and are never emptied
to answer a typo.
"""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

from ml_pipeline.config import CleaningConfig, DatasetConfig
from ml_pipeline.core.data.contract import SchemaContract
from ml_pipeline.core.data.intake import read_header

HEADER_SAMPLE = 50


def landing_problem(dataset: DatasetConfig) -> str | None:
    landing = dataset.landing_dir
    if not landing.exists():
        return f"dataset.landing_dir: the landing folder {landing} does not exist"
    if not landing.is_dir():
        return f"dataset.landing_dir: {landing} is not a folder"
    return None


def named_columns(dataset: DatasetConfig, cleaning: CleaningConfig) -> list[tuple[str, str]]:
    """Every (config key, column name) pair that config uses to name a column."""
    pairs = [("dataset.target", dataset.target)]
    if dataset.timestamp_column:
        pairs.append(("dataset.timestamp_column", dataset.timestamp_column))
    pairs += [(f"dataset.id_columns[{i}]", c) for i, c in enumerate(dataset.id_columns)]
    pairs += [(f"dataset.drop_columns[{i}]", c) for i, c in enumerate(dataset.drop_columns)]
    pairs += [(f"dataset.columns.{c}", c) for c in dataset.columns]
    pairs += [(f"dataset.column_types.{c}", c) for c in dataset.column_types]
    pairs += [(f"cleaning.outliers.bounds.{c}", c) for c in cleaning.outliers.bounds]
    return pairs


def sample_files(paths: list[Path], limit: int = HEADER_SAMPLE) -> list[Path]:
    """The first and the last files by name: the oldest and newest deliveries."""
    if len(paths) <= limit:
        return paths
    half = limit // 2
    return [*paths[:half], *paths[-(limit - half) :]]


def _suggestion(name: str, known: set[str]) -> str:
    folded = {k.casefold(): k for k in known}
    close = folded.get(name.casefold()) or next(
        iter(difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)), None
    )
    return f" (did you mean {close!r}?)" if close else ""


def config_faults(
    dataset: DatasetConfig,
    cleaning: CleaningConfig,
    contract: SchemaContract | None,
    headers: list[list[str]],
) -> list[str]:
    """Config keys naming a column that no landed header (and no inferred contract) has.

    ``headers`` are the column names of a sample of landed files. With no file and no
    inferred contract there is nothing to judge by, and nothing is reported.
    """
    known: set[str] = {name for header in headers for name in header}
    if contract is not None and contract.source.startswith("inferred"):
        known |= set(contract.names())
    if not known:
        return []
    faults = []
    for key, name in named_columns(dataset, cleaning):
        if name not in known:
            where = f"the landed files (checked {len(headers)})" if headers else "the contract"
            faults.append(f"{key}: {name!r} is not a column of {where}{_suggestion(name, known)}")
    return faults


def landed_headers(paths: list[Path], dataset: DatasetConfig) -> list[list[str]]:
    """The headers of a sample of ``paths``; a file whose header cannot be read is left
    to fail on its own, with its own reason."""
    headers = []
    for path in sample_files(paths):
        try:
            headers.append(read_header(path, dataset))
        except (OSError, ValueError, csv.Error):
            continue
    return headers


def ingest_blocker(
    dataset: DatasetConfig,
    cleaning: CleaningConfig,
    contract: SchemaContract | None,
    paths: list[Path],
) -> str | None:
    """Why no landed file should be ingested under this config, or None.

    Checked by every way in (``ml-pipeline run``, the landing sensor, an ingest run
    about to quarantine a file), so a config mistake never empties the landing folder.
    """
    problem = landing_problem(dataset)
    if problem:
        return problem
    faults = config_faults(dataset, cleaning, contract, landed_headers(paths, dataset))
    return faults[0] if faults else None


def preflight(dataset: DatasetConfig, cleaning: CleaningConfig, contract_path: Path) -> str | None:
    """A config mistake that would fail every landed file, found before any is touched."""
    from ml_pipeline.core.data.contract import resolve_contract
    from ml_pipeline.core.data.landing import scan_landing

    paths = [f.path for f in scan_landing(dataset.landing_dir, dataset.patterns)]
    return ingest_blocker(dataset, cleaning, resolve_contract(contract_path, dataset), paths)
