"""A seeded generator of hourly bike-rental demand, landed as daily batch files.

Demand follows commute peaks on working days, leisure peaks at weekends, a
comfort curve in temperature and penalties for humidity, wind and bad weather.
Faults are injected at known rates and recorded, per batch, in a ground-truth
file kept outside the landing folder so tests can measure detection.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_pipeline.core.fileio import atomic_write_frame

WEATHER = np.array(["clear", "mist", "light_rain", "heavy_rain"])
WEATHER_FACTOR = np.array([1.0, 0.85, 0.5, 0.2])
SEASONS = np.array(["winter", "spring", "summer", "autumn"])
NUMERIC_SENSORS = ("temp", "humidity", "windspeed")
TARGET = "count"
FAULT_COLUMNS = ["record_id", "column", "fault", "value"]


@dataclass(frozen=True)
class FaultRates:
    missing: float = 0.02
    duplicate: float = 0.01
    outlier: float = 0.005
    mistyped: float = 0.002


@dataclass(frozen=True)
class DemoSpec:
    batches: int = 60
    rows_per_batch: int = 240
    start: dt.date = dt.date(2024, 1, 1)
    seed: int = 7
    drift: bool = False
    # The inputs keep their distribution, but demand follows another rule: working days
    # ride like holidays and holidays like working days (concept drift, no input drift).
    relation_changed: bool = False
    label_noise: float = 0.0
    file_format: str = "csv"
    faults: FaultRates = FaultRates()


def _clean_batch(spec: DemoSpec, index: int, rng: np.random.Generator) -> pd.DataFrame:
    day = spec.start + dt.timedelta(days=index)
    stations = max(1, math.ceil(spec.rows_per_batch / 24))
    hour = np.tile(np.arange(24), stations)[: spec.rows_per_batch]
    station = np.repeat(np.arange(stations), 24)[: spec.rows_per_batch]
    n = len(hour)
    progress = index / max(1, spec.batches - 1)
    drift = progress if spec.drift else 0.0

    day_of_year = day.timetuple().tm_yday
    season_temp = 12 - 10 * math.cos(2 * math.pi * (day_of_year - 20) / 365)
    temp = season_temp + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 2.5, n)
    temp += 6 * drift
    humidity = np.clip(65 - 1.2 * (temp - season_temp) * 3 + rng.normal(0, 10, n), 5, 100)
    windspeed = rng.gamma(2.0, 6.0, n)
    weather = rng.choice(len(WEATHER), size=n, p=[0.6, 0.25, 0.12, 0.03])
    weekday = day.weekday()
    holiday = int((day.month, day.day) in {(1, 1), (5, 1), (7, 4), (12, 25), (12, 26)})
    workingday = int(weekday < 5 and not holiday)

    commute = np.exp(-((hour - 8) ** 2) / 2.0) + 0.9 * np.exp(-((hour - 17.5) ** 2) / 3.0)
    leisure = np.exp(-((hour - 14) ** 2) / 12.0)
    commuting = bool(workingday) != spec.relation_changed
    profile = 0.15 + (2.2 * commute + 0.6 * leisure if commuting else 1.8 * leisure)
    comfort = np.exp(-((temp - 24) ** 2) / 180.0)
    station_scale = 0.6 + 0.9 * np.random.default_rng(spec.seed).random(stations)[station]
    rate = (
        120
        * profile
        * comfort
        * station_scale
        * WEATHER_FACTOR[weather]
        * (1 - 0.003 * (humidity - 50))
        * (1 - 0.008 * windspeed)
        * (1 + 0.6 * drift)
    )
    count = rng.poisson(np.clip(rate, 0.1, None))
    casual = rng.binomial(count, 0.2 if workingday else 0.45)
    timestamps = pd.Timestamp(day) + pd.to_timedelta(hour, unit="h")
    return pd.DataFrame(
        {
            "record_id": [
                f"{day:%Y%m%d}-s{s:02d}-h{h:02d}" for s, h in zip(station, hour, strict=True)
            ],
            "timestamp": timestamps.strftime("%Y-%m-%d %H:%M:%S"),
            "station_id": [f"S{s:02d}" for s in station],
            "season": SEASONS[(day.month % 12) // 3],
            "holiday": holiday,
            "workingday": workingday,
            "weather": WEATHER[weather],
            "temp": temp.round(1),
            "humidity": humidity.round(0),
            "windspeed": windspeed.round(1),
            "casual": casual,
            "registered": count - casual,
            TARGET: count,
        }
    )


def _pick(
    rng: np.random.Generator, n: int, rate: float, exclude: set[int] | None = None
) -> list[int]:
    candidates = np.array(sorted(set(range(n)) - (exclude or set())), dtype=int)
    size = min(len(candidates), int(rng.binomial(n, rate))) if rate > 0 else 0
    return sorted(rng.choice(candidates, size=size, replace=False).tolist()) if size else []


def _inject_faults(
    clean: pd.DataFrame, rates: FaultRates, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    dirty = clean.astype({column: object for column in (*NUMERIC_SENSORS, "weather")})
    faults: list[tuple[str, str, str, object]] = []
    n = len(dirty)
    touched: set[int] = set()

    for row in _pick(rng, n, rates.outlier):
        column = NUMERIC_SENSORS[int(rng.integers(len(NUMERIC_SENSORS)))]
        glitch = {"temp": rng.choice([-99.9, 99.9]), "humidity": 250.0, "windspeed": 400.0}[column]
        dirty.at[row, column] = float(glitch)
        faults.append((dirty.at[row, "record_id"], column, "outlier", float(glitch)))
        touched.add(row)

    for row in _pick(rng, n, rates.mistyped, exclude=touched):
        column = NUMERIC_SENSORS[int(rng.integers(len(NUMERIC_SENSORS)))]
        text = f"{dirty.at[row, column]}".replace(".", ",") + "?"
        dirty.at[row, column] = text
        faults.append((dirty.at[row, "record_id"], column, "mistyped", text))
        touched.add(row)

    for column in (*NUMERIC_SENSORS, "weather"):
        for row in _pick(rng, n, rates.missing, exclude=touched):
            dirty.at[row, column] = None
            faults.append((dirty.at[row, "record_id"], column, "missing", None))

    duplicated = _pick(rng, n, rates.duplicate)
    for row in duplicated:
        faults.append((dirty.at[row, "record_id"], "", "duplicate", 1))
    if duplicated:
        copies = dirty.iloc[duplicated]
        dirty = pd.concat([dirty, copies]).sort_index(kind="stable").reset_index(drop=True)
    return dirty, pd.DataFrame(faults, columns=FAULT_COLUMNS)


def _add_label_noise(
    batch: pd.DataFrame, scale: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, list[tuple[str, str, str, object]]]:
    """Add zero-mean noise of ``scale`` target standard deviations to every label.

    Zero-mean noise keeps E[target | inputs] unchanged, so a model that learned the
    clean signal stays the best predictor even of noisy labels, while a model fitted
    to the noise gets worse: what a promotion gate has to notice.
    """
    if scale <= 0:
        return batch, []
    batch = batch.copy()
    spread = max(float(batch[TARGET].std()), 1.0)
    noise = rng.normal(0, scale * spread, len(batch))
    batch[TARGET] = np.round(batch[TARGET] + noise).astype(int)
    faults = [
        (rid, TARGET, "label_noise", int(v))
        for rid, v in zip(batch["record_id"], batch[TARGET], strict=True)
    ]
    return batch, faults


def generate_batch(spec: DemoSpec, index: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dirty batch ``index`` and the ground truth of the faults injected into it."""
    rng = np.random.default_rng([spec.seed, index])
    clean = _clean_batch(spec, index, rng)
    clean, label_faults = _add_label_noise(clean, spec.label_noise, rng)
    dirty, truth = _inject_faults(clean, spec.faults, rng)
    if label_faults:
        truth = pd.concat(
            [truth, pd.DataFrame(label_faults, columns=FAULT_COLUMNS)], ignore_index=True
        )
    return dirty, truth


def batch_name(spec: DemoSpec, index: int) -> str:
    day = spec.start + dt.timedelta(days=index)
    return f"bikes_{day:%Y-%m-%d}.{spec.file_format}"


def write_demo_data(
    spec: DemoSpec, landing_dir: Path, truth_dir: Path, skip: frozenset[str] = frozenset()
) -> list[Path]:
    """Write every batch (renamed into place, never half-written) and its ground truth,
    except the batches named in ``skip``."""
    if spec.file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be csv or parquet, not {spec.file_format!r}")
    written = []
    for index in range(spec.batches):
        name = batch_name(spec, index)
        if name in skip:
            continue
        batch, truth = generate_batch(spec, index)
        atomic_write_frame(truth, truth_dir / f"{Path(name).stem}.faults.csv")
        if spec.file_format == "parquet":
            # Parquet columns hold one type: mistyped numbers make the sensor columns text.
            mixed = [c for c in batch.columns if batch[c].dtype == object]
            batch = batch.astype(dict.fromkeys(mixed, "string"))
        written.append(atomic_write_frame(batch, landing_dir / name))
    return written
