"""Reading a landed file safely, judging it against the schema, and quarantining it.

A file either comes in (possibly with warnings) or raises :class:`LandingFileError`
with one line naming the file and the problem. A refused file is moved to the
quarantine folder with a reason file beside it: never deleted, never skipped.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.data.contract import UNDECIDED, ContractColumn, SchemaContract
from ml_pipeline.core.fileio import atomic_write_text

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
    # Columns the contract does not know: left out of the warehouse, reported.
    ignored: list[str] = field(default_factory=list)



# Starts the warning about landed columns the contract lacks (the summary lists those
# columns on a line of their own).
IGNORED_WARNING = "columns not in the schema contract, left out"

def text_encoding(dataset: DatasetConfig) -> str:
    """``dataset.encoding``, reading UTF-8 with or without a byte-order mark."""
    return "utf-8-sig" if codecs.lookup(dataset.encoding).name == "utf-8" else dataset.encoding


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


def read_header(path: Path, dataset: DatasetConfig) -> list[str]:
    """The column names of a landed file as written, without reading its rows."""
    if path.name.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=text_encoding(dataset), errors="replace", newline="") as f:
        return next(csv.reader(f), [])


def header_problem(names: list[str]) -> str | None:
    """Names that pandas would silently rename or that only differ by case or spacing."""
    seen: dict[str, str] = {}
    for name in names:
        key = _normalised(name)
        if key in seen:
            if seen[key] == name:
                return f"the header names column {name!r} twice"
            return (
                f"the header has columns {seen[key]!r} and {name!r}, which differ only by "
                "case or whitespace"
            )
        seen[key] = name
    return None


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
        return pd.read_csv(path, dtype=str, encoding=text_encoding(dataset))
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


def _check_target(path: Path, frame: pd.DataFrame, dataset: DatasetConfig) -> None:
    if dataset.target not in frame.columns:
        raise _refuse(
            path, f"missing target column {dataset.target!r}{_wrong_delimiter_hint(frame)}"
        )
    if frame.empty:
        raise _refuse(path, "no data rows (header only)")
    if frame[dataset.target].isna().all():
        raise _refuse(path, f"target column {dataset.target!r} has no values")


def read_landed_file(path: Path, dataset: DatasetConfig, with_target: bool = True) -> Intake:
    """Read ``path`` as landed; raises LandingFileError with a one-line reason.

    The header is checked before the rows are read, so a repeated name is refused
    rather than renamed by pandas into a column of its own. Files to be scored
    (``with_target=False``) need no target column, but still need rows.
    """
    _check_size(path, dataset)
    warnings: list[str] = []
    if path.name.lower().endswith((".csv", ".csv.gz")):
        unterminated = _check_csv_bytes(path, dataset)
        problem = header_problem(read_header(path, dataset))
        if problem:
            raise _refuse(path, problem)
        frame = _read_csv(path, dataset)
        if unterminated:
            truncated = _drop_truncated_last_line(path, frame, dataset)
            if truncated:
                warnings.append(truncated)
    else:
        frame = _read_parquet(path)
        problem = header_problem([str(c) for c in frame.columns])
        if problem:
            raise _refuse(path, problem)
    frame.columns = [str(c) for c in frame.columns]
    if with_target:
        _check_target(path, frame, dataset)
    elif frame.empty:
        raise _refuse(path, "no data rows (header only)")
    return Intake(frame=frame.reset_index(drop=True), warnings=warnings)


def _bad_share(values: pd.Series, kind: str) -> tuple[float, object]:
    """The share of present values that do not parse as ``kind``, and one of them."""
    present = values.dropna()
    if kind == "numeric" and pd.api.types.is_numeric_dtype(present):
        return 0.0, None
    if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(present):
        return 0.0, None
    if kind == "numeric":
        parsed = pd.to_numeric(present, errors="coerce")
    else:
        parsed = pd.to_datetime(present, errors="coerce", format="mixed")
    failed = present[parsed.isna().to_numpy()]
    if present.empty or failed.empty:
        return 0.0, None
    return len(failed) / len(present), failed.iloc[0]


# Fewer numbers than this in a file say nothing against a categorical kind.
NUMBERS_THAT_DOUBT_A_CATEGORY = 20


def _numbers_in_a_categorical(
    values: pd.Series, column: ContractColumn, declared: bool
) -> str | None:
    """A warning when a column made categorical by earlier files' values holds only
    numbers here: its kind may have been decided on values that were not typical."""
    if declared or column.evidence is None or column.role != "feature":
        return None
    present = values.dropna()
    if len(present) < NUMBERS_THAT_DOUBT_A_CATEGORY:
        return None
    if pd.to_numeric(present, errors="coerce").notna().all():
        return (
            f"column {column.name!r} holds only numbers here ({len(present)} values), but the "
            f"contract made it categorical from {column.evidence['values']} earlier values; "
            f"if it is numeric: `ml-pipeline contract kind {column.name} numeric`"
        )
    return None


def conform_to_contract(
    path: Path, intake: Intake, contract: SchemaContract, numeric_threshold: float
) -> Intake:
    """The file's contract columns in contract order; everything else is left out.

    Refused: a required column missing, a column named like a contract column but for
    case or spacing, or a numeric or datetime column whose values mostly do not parse.
    A few unparseable values are left for cleaning, which counts them.
    """
    frame = intake.frame
    by_normal = {_normalised(c): c for c in frame.columns}
    missing = []
    for column in contract.columns:
        if column.name in frame.columns:
            continue
        lookalike = by_normal.get(_normalised(column.name))
        if lookalike is not None:
            raise _refuse(
                path,
                f"column {lookalike!r} differs from the contract's {column.name!r} only by "
                "case or whitespace; rename it in the file, or change the contract",
            )
        if column.required:
            missing.append(column.name)
    if missing:
        raise _refuse(
            path, f"missing columns {', '.join(missing)} (required by the schema contract)"
        )
    declared = contract.source.startswith("config")
    warnings = list(intake.warnings)
    for column in contract.columns:
        if column.name not in frame.columns or column.kind == UNDECIDED:
            continue
        if column.kind == "categorical":
            doubt = _numbers_in_a_categorical(frame[column.name], column, declared)
            if doubt:
                warnings.append(doubt)
            continue
        share, example = _bad_share(frame[column.name], column.kind)
        if share > 1 - numeric_threshold:
            fix = (
                "if that kind is wrong, change dataset.columns"
                if declared
                else "if that kind is wrong: `ml-pipeline contract kind "
                f"{column.name} categorical`, then move the file back from the quarantine"
            )
            raise _refuse(
                path,
                f"column {column.name!r} should be {column.kind} but {share:.0%} of its values "
                f"are not (e.g. {str(example)[:30]!r}); {fix}",
            )
    known = set(contract.names())
    ignored = [c for c in frame.columns if c not in known]
    if ignored:
        warnings.append(
            f"{IGNORED_WARNING}: {', '.join(ignored)} "
            "(add them with `ml-pipeline contract add` to use them)"
        )
    empty = [c for c in frame.columns if c in known and frame[c].isna().all()]
    if empty:
        warnings.append(f"columns with no values at all: {', '.join(empty)}")
    conformed = frame.reindex(columns=contract.names())
    return Intake(frame=conformed, warnings=warnings, ignored=ignored)


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
