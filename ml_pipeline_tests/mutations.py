"""Hypothesis strategies that turn a good landed file into the odd files clients send.

A mutation is drawn as data (which column, which value, which row) and applied to a
good demo batch, which is then written as CSV or Parquet bytes. Every mutation keeps to
what real exports and hand-edited files do: special and extreme numbers, gaps, quoting,
encodings and line ends, header changes, duplicated or single rows, odd labels.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch

NUMERIC = ["temp", "humidity", "windspeed", "holiday", "workingday"]
TEXT = ["station_id", "season", "weather"]
TARGET = "count"
SPECIAL_NUMBERS = [
    "inf", "-inf", "Infinity", "-Infinity", "1e400", "-1e400", "NaN", "nan",
    "1" + "0" * 30, "-" + "9" * 25, "1e-320", "0.0000000001", "1e308", "",
]  # fmt: skip
ODD_TEXT = [
    'say "hi"', "two\nlines", "comma, inside", "ünïcödé", "日本", "  padded  ", "", "NULL",
    "\ttab", "🙂",
]  # fmt: skip
# Fast in `make test`; ML_PIPELINE_FUZZ=deep runs many more examples.
DEEP = os.environ.get("ML_PIPELINE_FUZZ", "").lower() == "deep"


def examples(fast: int, deep: int) -> settings:
    """Settings for a fuzz test: ``fast`` examples by default, ``deep`` on request; no
    deadline (a first example pays for imports); the failing blob is printed so a
    failure can be replayed with @reproduce_failure, and a deep run names its seed."""
    return settings(
        max_examples=deep if DEEP else fast,
        deadline=None,
        print_blob=True,
        # The same examples on every `make test`, so CI never fails on a new draw;
        # the deep profile draws anew each time.
        derandomize=not DEEP,
        # Making a demo batch is most of drawing a file: not a slow strategy to fix.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def good_batch(index: int, rows: int = 48) -> pd.DataFrame:
    """A clean demo batch as its CSV would be read: every value text."""
    spec = DemoSpec(rows_per_batch=rows, faults=FaultRates(0.0, 0.0, 0.0, 0.0))
    raw, _ = generate_batch(spec, index)
    return raw.astype(str).reset_index(drop=True)


@dataclass(frozen=True)
class Mutation:
    kind: str
    column: str = ""
    value: str = ""
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}({self.column!r}, {self.value!r}, rows={list(self.rows)})"


def _rows(draw: st.DrawFn, n: int) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=max(1, n // 4))))


KINDS = [
    "special_number", "empty_cells", "empty_column", "odd_text", "mixed_dates", "reorder",
    "drop_column", "extra_column", "repeat_column", "duplicate_rows", "one_row",
    "unicode_name", "new_category", "constant_column", "constant_target", "special_target",
]  # fmt: skip
# Target values that are gaps, not labels: a file whose labels are real but different
# (all 5, or 1e308) changes which model is best, so it is no fault to survive.
MISSING_TARGETS = ["inf", "-inf", "Infinity", "1e400", "NaN", "nan", ""]


@st.composite
def mutations(draw: st.DrawFn, n: int, relabel: bool = True) -> Mutation:
    """One mutation of an ``n``-row batch; without ``relabel``, none that gives the
    target other real values."""
    kinds = KINDS if relabel else [k for k in KINDS if k != "constant_target"]
    kind = draw(st.sampled_from(kinds))
    column = draw(st.sampled_from([*NUMERIC, *TEXT]))
    if kind == "special_target":
        targets = SPECIAL_NUMBERS if relabel else MISSING_TARGETS
        return Mutation(kind, column, draw(st.sampled_from(targets)), _rows(draw, n))
    if kind == "special_number":
        return Mutation(kind, column, draw(st.sampled_from(SPECIAL_NUMBERS)), _rows(draw, n))
    if kind == "odd_text":
        return Mutation(kind, draw(st.sampled_from(TEXT)), draw(st.sampled_from(ODD_TEXT)),
                        _rows(draw, n))  # fmt: skip
    if kind == "new_category":
        return Mutation(kind, draw(st.sampled_from(TEXT)), draw(st.text(min_size=1, max_size=8)),
                        _rows(draw, n))  # fmt: skip
    if kind == "unicode_name":
        return Mutation(kind, "", draw(st.text(min_size=1, max_size=10)))
    return Mutation(kind, column, "", _rows(draw, n))


# Applied after the value mutations: these change the header or the rows themselves.
STRUCTURAL = ("reorder", "drop_column", "extra_column", "repeat_column", "duplicate_rows",
              "one_row", "unicode_name")  # fmt: skip


def apply(frame: pd.DataFrame, mutation: Mutation) -> pd.DataFrame:
    """``frame`` (all text, unique columns) with ``mutation`` applied."""
    frame = frame.copy()
    column, value = mutation.column, mutation.value
    at = frame.index[[r for r in mutation.rows if r < len(frame)]]
    match mutation.kind:
        case "special_number" | "odd_text" | "new_category":
            frame.loc[at, column] = value
        case "special_target":
            frame.loc[at, TARGET] = value
        case "empty_cells":
            frame.loc[at, column] = ""
        case "empty_column":
            frame[column] = ""
        case "mixed_dates":
            stamps = pd.to_datetime(frame.loc[at, "timestamp"], errors="coerce")
            frame.loc[at, "timestamp"] = stamps.dt.strftime("%d/%m/%Y %H:%M").to_numpy()
        case "constant_column":
            frame[column] = frame[column].iloc[0]
        case "constant_target":
            frame[TARGET] = "5"
        case "reorder":
            frame = frame[list(reversed(frame.columns))]
        case "drop_column":
            frame = frame.drop(columns=column)
        case "extra_column":
            frame["extra_notes"] = "x"
        case "repeat_column":
            frame = pd.concat([frame, frame[[column]]], axis=1)
        case "duplicate_rows":
            frame = pd.concat([frame, frame.loc[at]], ignore_index=True)
        case "one_row":
            frame = frame.loc[at[:1]]
        case "unicode_name":
            if value not in frame.columns:
                frame[value] = "1"
    return frame


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns whose every present value reads as a number become float64, as a client's
    Parquet export would type them (infinities and gaps included)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column].replace("", None)
        parsed = pd.to_numeric(values, errors="coerce")
        if parsed.notna().sum() == values.notna().sum():
            out[column] = parsed.astype("float64")
    return out


@st.composite
def landed_files(
    draw: st.DrawFn, index: int, relabel: bool = True
) -> tuple[str, bytes, list[Mutation]]:
    """A mutated demo batch as a landed file: its name, its bytes and what was done."""
    frame = good_batch(index)
    drawn = draw(st.lists(mutations(len(frame), relabel), min_size=1, max_size=3))
    done = sorted(drawn, key=lambda m: m.kind in STRUCTURAL)
    for mutation in done:
        if mutation.kind in STRUCTURAL and not frame.columns.is_unique:
            continue  # a repeated header is refused whatever else the file holds
        if mutation.column and mutation.column not in frame.columns:
            continue
        frame = apply(frame, mutation)
    as_parquet = draw(st.booleans()) and frame.columns.is_unique
    if as_parquet:
        buffer = io.BytesIO()
        typed(frame).to_parquet(buffer, index=False)
        return f"odd_{index}.parquet", buffer.getvalue(), done
    text = frame.to_csv(index=False, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return f"odd_{index}.csv", data, done
