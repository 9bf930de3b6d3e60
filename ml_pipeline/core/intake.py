"""Reading a landed file safely, judging it against the schema, and quarantining it.

A file either comes in (possibly with warnings) or raises :class:`LandingFileError`
with one line naming the file and the problem. A refused file is moved to the
quarantine folder with a reason file beside it: never deleted, never skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.fileio import atomic_write_text
from ml_pipeline.core.reference import ReferenceProfile

MAGIC_BYTES = {
    b"\x1f\x8b": "gzip-compressed",
    b"PK\x03\x04": "zip",
    b"PAR1": "Parquet",
    b"\x89PNG": "PNG image",
    b"%PDF": "PDF",
}
OTHER_DELIMITERS = (";", "\t", "|")


class LandingFileError(ValueError):
    """A landed file cannot be read or breaks the schema; names the file and the problem."""


@dataclass
class Intake:
    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def _refuse(path: Path, problem: str) -> LandingFileError:
    return LandingFileError(f"{path.name}: {problem}")


def _check_size(path: Path, dataset: DatasetConfig) -> None:
    size = path.stat().st_size
    if size == 0:
        raise _refuse(path, "empty file (0 bytes)")
    limit = int(dataset.max_file_mb * 1024 * 1024)
    if size > limit:
        raise _refuse(
            path,
            f"{size / 1024**2:.0f} MB is over the {dataset.max_file_mb:g} MB limit "
            "(dataset.max_file_mb); split the file into smaller batches",
        )


def _check_csv_bytes(path: Path, dataset: DatasetConfig) -> bool:
    """Refuse binary content; return whether the last line ends without a newline."""
    with path.open("rb") as handle:
        head = handle.read(8192)
        handle.seek(max(0, path.stat().st_size - 1))
        last_byte = handle.read(1)
    if not path.name.lower().endswith(".gz"):
        for magic, kind in MAGIC_BYTES.items():
            if head.startswith(magic):
                raise _refuse(path, f"{kind} data in a file named .csv, not CSV text")
        if b"\x00" in head:
            raise _refuse(path, "binary data (NUL bytes) in a file named .csv, not CSV text")
        try:
            head.decode(dataset.encoding)
        except UnicodeDecodeError as error:
            if error.start < len(head) - 4:  # a cut multi-byte character at the edge is fine
                raise _refuse(
                    path,
                    f"not {dataset.encoding} text: byte 0x{head[error.start]:02x} "
                    f"at offset {error.start} (dataset.encoding)",
                ) from None
    return last_byte not in (b"\n", b"\r")


def _read_csv(path: Path, dataset: DatasetConfig) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, encoding=dataset.encoding)
    except UnicodeDecodeError as error:
        raise _refuse(
            path, f"not {dataset.encoding} text: byte offset {error.start} (dataset.encoding)"
        ) from None
    except pd.errors.EmptyDataError:
        raise _refuse(path, "no header and no data") from None
    except pd.errors.ParserError as error:
        raise _refuse(path, f"malformed CSV: {str(error).strip().splitlines()[0]}") from None
    except (OSError, EOFError) as error:  # a corrupt .csv.gz
        raise _refuse(path, f"cannot be read: {error}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        if type(error).__module__.startswith("pyarrow"):
            raise _refuse(path, f"not a readable Parquet file: {error}") from None
        raise


def _drop_truncated_last_line(
    path: Path, frame: pd.DataFrame, dataset: DatasetConfig
) -> str | None:
    """A last line cut short by an interrupted writer has fewer fields than the header."""
    if frame.empty or path.name.lower().endswith(".gz"):
        return None
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 65536))
        tail = handle.read().decode(dataset.encoding, errors="replace")
    last_line = tail.rstrip("\r\n").rsplit("\n", 1)[-1]
    fields = next(csv.reader(io.StringIO(last_line)), [])
    if len(fields) < len(frame.columns):
        frame.drop(index=frame.index[-1], inplace=True)
        return (
            f"last line is truncated ({len(fields)} of {len(frame.columns)} fields, no final "
            "newline); dropped it"
        )
    return None


def _wrong_delimiter_hint(frame: pd.DataFrame) -> str:
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for delimiter in OTHER_DELIMITERS:
            if delimiter in header:
                return (
                    f"; the header is one column {header[:60]!r}: "
                    f"separated by {delimiter!r}, not ','"
                )
    return ""


def _check_schema(
    path: Path,
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    reference: ReferenceProfile | None,
    numeric_threshold: float,
    warnings: list[str],
) -> None:
    if dataset.target not in frame.columns:
        raise _refuse(
            path, f"missing target column {dataset.target!r}{_wrong_delimiter_hint(frame)}"
        )
    if frame.empty:
        raise _refuse(path, "no data rows (header only)")
    if frame[dataset.target].isna().all():
        raise _refuse(path, f"target column {dataset.target!r} has no values")
    required = [dataset.timestamp_column] if dataset.timestamp_column else []
    if reference is not None:
        required += reference.required_columns()
    missing = [c for c in dict.fromkeys(required) if c not in frame.columns]
    if missing:
        raise _refuse(path, f"missing columns {', '.join(missing)} (expected by the schema)")
    if reference is not None:
        known = {dataset.target, *reference.columns}
        extra = [c for c in frame.columns if c not in known]
        if extra:
            warnings.append(
                f"unknown extra columns {', '.join(extra)}: kept, not used by the model"
            )
        for name, column in reference.columns.items():
            if column.kind != "numeric" or name not in frame.columns:
                continue
            present = frame[name].dropna()
            parsed = pd.to_numeric(present, errors="coerce")
            if len(present) and parsed.notna().mean() < numeric_threshold:
                example = present[parsed.isna()].iloc[0]
                raise _refuse(
                    path,
                    f"column {name!r} should be numeric but {parsed.isna().mean():.0%} of its "
                    f"values are text (e.g. {str(example)[:30]!r})",
                )
    empty = [c for c in frame.columns if c != dataset.target and frame[c].isna().all()]
    if empty:
        warnings.append(f"columns with no values at all: {', '.join(empty)}")


def read_landed_file(
    path: Path,
    dataset: DatasetConfig,
    reference: ReferenceProfile | None,
    numeric_threshold: float = 0.9,
) -> Intake:
    """Read ``path`` and judge it; raises LandingFileError with a one-line reason."""
    _check_size(path, dataset)
    warnings: list[str] = []
    if path.name.lower().endswith((".csv", ".csv.gz")):
        unterminated = _check_csv_bytes(path, dataset)
        frame = _read_csv(path, dataset)
        if unterminated:
            truncated = _drop_truncated_last_line(path, frame, dataset)
            if truncated:
                warnings.append(truncated)
    else:
        frame = _read_parquet(path)
    frame.columns = [str(c) for c in frame.columns]
    _check_schema(path, frame, dataset, reference, numeric_threshold, warnings)
    return Intake(frame=frame.reset_index(drop=True), warnings=warnings)


def quarantine(path: Path, quarantine_dir: Path, reason: str, partition_key: str) -> Path:
    """Move ``path`` into ``quarantine_dir`` with ``<name>.reason.txt`` beside it.

    An earlier quarantined file of the same name is kept: the new one gets a time suffix.
    """
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = quarantine_dir / path.name
    if target.exists():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        target = quarantine_dir / f"{stamp}-{path.name}"
    shutil.move(str(path), target)
    atomic_write_text(
        f"file: {path}\npartition: {partition_key}\n"
        f"quarantined: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n"
        f"reason: {reason}\n",
        target.with_name(target.name + ".reason.txt"),
    )
    return target
