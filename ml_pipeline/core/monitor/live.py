"""Served predictions measured once their labels arrive, per version and role.

The service logs every scored row's id, version and prediction (the champion's, and a
shadow version's beside it). Labels that come later, as files of ids and target values,
are joined to those rows by id. Each version's metric over its labelled rows, with a
bootstrap interval, is the live figure; the champion's rows also feed the decay rule
that :mod:`performance` applies to landed partitions.

Nothing is dropped unsaid: labels whose id no logged row carries, ids labelled more than
once (the last label counts), and label rows without an id or a value are all counted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml_pipeline.core.features import category_text, parse_numbers
from ml_pipeline.core.model.bootstrap import score_interval, score_of
from ml_pipeline.core.monitor.performance import PREDICTION, PROBABILITY_PREFIX, TRUTH, pooled
from ml_pipeline.core.monitor.prediction_log import CHAMPION_ROLE, SHADOW_ROLE

ROW_ID = "row_id"
LABEL_SUFFIXES = (".csv", ".csv.gz", ".parquet")


class LabelFileError(ValueError):
    """A labels file that cannot be read as ids and target values; the message names it."""


def label_id_column(id_columns: list[str]) -> str:
    """The column a labels file names its rows by: the dataset's id, else ``row_id``."""
    return id_columns[0] if id_columns else ROW_ID


def _as_text(value: object) -> str | None:
    text = category_text(value) if value is not None else None
    return text if isinstance(text, str) and text else None


def truth_values(values: pd.Series, task: str) -> pd.Series:
    """Target values as the live join compares them: numbers for a regression (an
    unreadable one is missing), the label's text for a classification (1.0 is "1")."""
    if task == "regression":
        parsed, _bad = parse_numbers(values)
        return pd.Series(parsed, index=values.index, dtype="float64")
    return values.astype(object).map(_as_text)


def read_label_file(path: Path, id_column: str, target: str, task: str) -> pd.DataFrame:
    """A labels file as ``row_id`` and truth per row, in file order."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={id_column: str}, keep_default_na=True)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LabelFileError(f"{path.name}: cannot be read: {first}") from None
    missing = [c for c in (id_column, target) if c not in frame.columns]
    if missing:
        raise LabelFileError(
            f"{path.name}: no {' or '.join(map(repr, missing))} column "
            f"(a labels file holds {id_column!r} and {target!r})"
        )
    return pd.DataFrame(
        {
            ROW_ID: frame[id_column].astype(object).map(_as_text),
            TRUTH: truth_values(frame[target], task),
        }
    )


@dataclass
class LabelSet:
    """Every label read, in arrival order (file by file), and what could not be used."""

    rows: pd.DataFrame  # row_id, truth, file
    files: int = 0
    incomplete: int = 0  # label rows without an id or a value
    errors: list[str] = field(default_factory=list)


def label_files(folder: Path) -> list[Path]:
    """The labels files of ``folder`` in arrival order (modification time, then name)."""
    if not folder.is_dir():
        return []
    found = [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.name.lower().endswith(LABEL_SUFFIXES)
    ]
    return sorted(found, key=lambda path: (path.stat().st_mtime_ns, path.name))


def collect_labels(paths: Iterable[Path], id_column: str, target: str, task: str) -> LabelSet:
    """The labels of ``paths``; a file that cannot be read is named in ``errors`` and the
    others are read all the same."""
    frames, errors, incomplete, files = [], [], 0, 0
    for path in paths:
        try:
            frame = read_label_file(path, id_column, target, task)
        except LabelFileError as error:
            errors.append(str(error))
            continue
        files += 1
        usable = frame[ROW_ID].notna() & frame[TRUTH].notna()
        incomplete += int((~usable).sum())
        frames.append(frame[usable].assign(file=path.name))
    rows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({name: pd.Series(dtype=object) for name in (ROW_ID, TRUTH, "file")})
    )
    return LabelSet(rows, files, incomplete, errors)


def served_rows(log: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per scored row of the prediction log: time, role, model_version, row_id,
    prediction and, for a classifier, a probability per label (as performance keeps them)."""
    # Plain lists, one frame at the end: a frame per record would cost more than the
    # rows it holds over two weeks of requests.
    columns: dict[str, list] = {"time": [], "role": [], "model_version": [], ROW_ID: []}
    predictions: list = []
    shares: list[dict[str, float]] = []
    any_shares = False
    scored = log[(log["status"] == 200) & log["row_ids"].notna()]
    for record in scored.itertuples(index=False):
        ids = json.loads(record.row_ids)
        count = len(ids)
        columns["time"] += [record.time] * count
        columns["role"] += [record.role] * count
        columns["model_version"] += [str(record.model_version)] * count
        columns[ROW_ID] += ids
        predictions += json.loads(record.predictions)
        if isinstance(record.probabilities, str):
            shares += json.loads(record.probabilities)
            any_shares = True
        else:
            shares += [{}] * count
    rows = pd.DataFrame({**columns, PREDICTION: predictions}, dtype=object)
    if any_shares:
        table = pd.DataFrame(shares, index=rows.index)
        for label in table.columns:
            rows[PROBABILITY_PREFIX + json.dumps(label)] = table[label].to_numpy(dtype="float64")
    rows["time"] = pd.to_datetime(rows["time"], utc=True)
    rows[PREDICTION] = truth_values(rows[PREDICTION], task)
    return rows


@dataclass
class LiveJoin:
    """Served rows with their labels, and the labels that could not be used."""

    scored: pd.DataFrame  # served rows that have a label: role, version, prediction, truth
    labels: int  # distinct labelled ids
    matched: int  # of those, the ids a logged row carries
    duplicates: int  # label rows for an id labelled before (the last label counts)
    conflicting: int  # of the duplicated ids, those whose labels disagree
    incomplete: int
    errors: list[str]

    @property
    def unmatched(self) -> int:
        return self.labels - self.matched

    def figures(self) -> dict[str, object]:
        return {
            "labelled_ids": self.labels,
            "matched_labels": self.matched,
            "unmatched_labels": self.unmatched,
            "duplicate_labels": self.duplicates,
            "conflicting_duplicate_labels": self.conflicting,
            "incomplete_label_rows": self.incomplete,
        }


def join_labels(labels: LabelSet, served: pd.DataFrame) -> LiveJoin:
    """``served`` rows joined to their latest label by id."""
    # Ids are text on both sides, even where a side is empty (pandas would make it float).
    rows = labels.rows.astype({ROW_ID: object})
    served = served.astype({ROW_ID: object})
    repeated = rows[ROW_ID].duplicated(keep=False)
    conflicting = rows[repeated].groupby(ROW_ID)[TRUTH].nunique(dropna=False).gt(1).sum()
    latest = rows.drop_duplicates(ROW_ID, keep="last")
    scored = served.merge(latest[[ROW_ID, TRUTH]], on=ROW_ID, how="inner")
    return LiveJoin(
        scored=scored,
        labels=len(latest),
        matched=int(latest[ROW_ID].isin(served[ROW_ID]).sum()) if len(served) else 0,
        duplicates=int(len(rows) - len(latest)),
        conflicting=int(conflicting),
        incomplete=labels.incomplete,
        errors=list(labels.errors),
    )


@dataclass(frozen=True)
class LiveScore:
    role: str
    version: str
    rows: int
    metric: str
    value: float
    low: float
    high: float

    def as_row(self) -> dict[str, object]:
        return {
            "role": self.role,
            "version": self.version,
            "labelled_rows": self.rows,
            self.metric: round(self.value, 4),
            "interval": f"{self.low:.4g} to {self.high:.4g}",
        }


def version_rows(
    join: LiveJoin, version: str, role: str = CHAMPION_ROLE, since: dt.datetime | None = None
) -> pd.DataFrame:
    """The labelled rows ``version`` scored in ``role`` (at ``since`` or later), as
    performance keeps scored rows."""
    scored = join.scored
    chosen = (scored["model_version"] == version) & (scored["role"] == role)
    if since is not None:
        chosen &= scored["time"] >= pd.Timestamp(since)
    mine = scored[chosen]
    keep = [TRUTH, PREDICTION, *(c for c in mine.columns if c.startswith(PROBABILITY_PREFIX))]
    return mine[keep].dropna(axis=1, how="all").reset_index(drop=True)


def live_scores(
    join: LiveJoin, metric: str, level: float, rounds: int, seed: int
) -> list[LiveScore]:
    """``metric`` of each (role, version) over its labelled rows, with a ``level``
    bootstrap interval; a version whose rows cannot give the metric is left out."""
    found = []
    pairs = join.scored[["role", "model_version"]].drop_duplicates().itertuples(index=False)
    for role, version in sorted(pairs):
        rows = version_rows(join, version, role)
        y, predictions = pooled([rows])
        value = score_of(metric, y, predictions)
        if not np.isfinite(value):
            continue
        low, high = score_interval(y, predictions, metric, level, rounds, seed)
        found.append(LiveScore(role, version, len(rows), metric, value, low, high))
    return found


def agreement(
    join_or_served: pd.DataFrame, champion: str, shadow: str, task: str, tolerance: float
) -> tuple[int, float | None]:
    """Rows both versions scored, and the share on which they agree: the same label, or
    predictions within ``tolerance`` of each other relative to the larger."""
    rows = join_or_served
    first = rows[(rows["role"] == CHAMPION_ROLE) & (rows["model_version"] == champion)]
    second = rows[(rows["role"] == SHADOW_ROLE) & (rows["model_version"] == shadow)]
    both = first[[ROW_ID, PREDICTION]].merge(
        second[[ROW_ID, PREDICTION]], on=ROW_ID, suffixes=("_champion", "_shadow")
    )
    if both.empty:
        return 0, None
    a, b = both[f"{PREDICTION}_champion"], both[f"{PREDICTION}_shadow"]
    if task == "classification":
        same = (a == b).to_numpy()
    else:
        x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
        scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)
        same = np.abs(x - y) <= tolerance * scale
    return len(both), float(same.mean())
