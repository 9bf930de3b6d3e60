"""Real datasets that ship inside scikit-learn, landed the way a client would send them.

Nothing is downloaded: ``load_diabetes``, ``load_wine`` and ``load_breast_cancer`` are
bundled with scikit-learn. Two more are made from them, because no bundled dataset has
a timestamp or gaps:

- ``diabetes_hourly``: the diabetes rows in their published order, one hour apart from
  2024-01-01 00:00, with ``sex`` written as the text ``F``/``M`` (a categorical column).
- ``breast_cancer_gaps``: the breast-cancer rows with 8% of the feature cells blanked
  at random (seeded), so every landed file and the withheld rows have gaps.
- ``digits_daily``: the 8x8 handwritten digits, one a day from 2020-01-01 in a seeded
  random order, labelled ``zero``, ``one`` or ``other``: an imbalanced three-class
  target (about 10%, 10% and 80%) with text labels.

One is generated, because no installed package ships a large time-ordered table with
heavy tails: ``flights_hourly``, flights in time order over a year with arrival delay as
the target. Departure delays are mostly small, with a Pareto tail up to 1,500 minutes
that carries into the arrival delay; a cleaning that treats the tail as outliers at
ingest leaves the model blind to the delays it will be asked about. The corpus holds
5,000 of its rows; ``LARGE_CORPUS`` holds 100,000, for the quality benchmark.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets

WITHHELD_SHARE = 0.2
BATCHES = 5


@dataclass(frozen=True)
class CorpusDataset:
    name: str
    task: str
    target: str
    load: Callable[[], pd.DataFrame]
    timestamp_column: str | None = None

    @property
    def metric(self) -> str:
        return "r2" if self.task == "regression" else "f1_macro"


def _bundled(loader: Callable, target: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        bunch = (
            loader(as_frame=True, scaled=False)
            if loader is datasets.load_diabetes
            else loader(as_frame=True)
        )
        frame = bunch.frame.rename(columns={"target": target})
        frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
        # Written as an export would write them: whole numbers without a decimal point.
        whole = [c for c in frame.columns if (frame[c] == frame[c].round()).all()]
        return frame.astype({c: "int64" for c in whole})

    return load


def _diabetes_hourly() -> pd.DataFrame:
    frame = _bundled(datasets.load_diabetes, "progression")()
    frame["sex"] = np.where(frame["sex"] == frame["sex"].min(), "F", "M")
    stamps = pd.date_range("2024-01-01", periods=len(frame), freq="h")
    frame.insert(0, "measured_at", stamps.strftime("%Y-%m-%d %H:%M:%S"))
    return frame


def _breast_cancer_gaps() -> pd.DataFrame:
    frame = _bundled(datasets.load_breast_cancer, "malignant")()
    rng = np.random.default_rng(11)
    features = [c for c in frame.columns if c != "malignant"]
    values = frame[features].to_numpy(dtype="float64", copy=True)
    values[rng.random(values.shape) < 0.08] = np.nan
    frame[features] = values
    return frame


def _digits_daily() -> pd.DataFrame:
    bunch = datasets.load_digits(as_frame=True)
    frame = bunch.frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    digit = frame.pop("target")
    frame = frame.astype("int64")
    frame["symbol"] = np.select([digit == 0, digit == 1], ["zero", "one"], "other")
    stamps = pd.date_range("2020-01-01", periods=len(frame), freq="D")
    frame.insert(0, "day", stamps.strftime("%Y-%m-%d"))
    return frame


def _flights_hourly(rows: int, seed: int = 17) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        seconds = np.sort(rng.uniform(0, 365 * 24 * 3600, rows))
        departure = pd.Timestamp("2023-01-01") + pd.to_timedelta(seconds, unit="s")
        carriers = np.array(list("ABCDEFGHJK"))
        weights = np.linspace(2, 0.5, len(carriers))
        carrier = rng.choice(carriers, rows, p=weights / weights.sum())
        effect = dict(zip(carriers, rng.normal(0, 4, len(carriers)), strict=True))
        distance = np.round(rng.lognormal(6.4, 0.6, rows))
        hour = departure.hour.to_numpy()
        evening = (hour >= 16) & (hour <= 21)
        late = rng.random(rows) < np.where(evening, 0.3, 0.15)
        tail = np.minimum(np.round((rng.pareto(2.2, rows) + 1) * 18), 1500)
        dep_delay = np.where(late, tail, np.round(rng.normal(-3, 4, rows)))
        taxi_out = np.round(rng.gamma(3.0, 5.0, rows) + 2 * evening)
        arr_delay = np.round(
            0.96 * dep_delay
            + 0.8 * taxi_out
            - 15
            - 0.003 * distance
            + np.array([effect[c] for c in carrier])
            + rng.normal(0, 8, rows)
        )
        frame = pd.DataFrame(
            {
                "departure": departure.strftime("%Y-%m-%d %H:%M:%S"),
                "carrier": carrier,
                "origin": rng.choice([f"AP{i:02d}" for i in range(40)], rows),
                "distance": distance.astype("int64"),
                "dep_delay": dep_delay.astype("int64"),
                "taxi_out": taxi_out,
                "arr_delay": arr_delay.astype("int64"),
            }
        )
        frame.loc[rng.random(rows) < 0.02, "taxi_out"] = np.nan
        return frame

    return load


CORPUS = [
    CorpusDataset(
        "diabetes", "regression", "progression", _bundled(datasets.load_diabetes, "progression")
    ),
    CorpusDataset("wine", "classification", "cultivar", _bundled(datasets.load_wine, "cultivar")),
    CorpusDataset(
        "breast_cancer",
        "classification",
        "malignant",
        _bundled(datasets.load_breast_cancer, "malignant"),
    ),
    CorpusDataset("diabetes_hourly", "regression", "progression", _diabetes_hourly, "measured_at"),
    CorpusDataset("breast_cancer_gaps", "classification", "malignant", _breast_cancer_gaps),
    CorpusDataset("digits_daily", "classification", "symbol", _digits_daily, "day"),
    CorpusDataset("flights_hourly", "regression", "arr_delay", _flights_hourly(5_000), "departure"),
]
LARGE_CORPUS = [
    CorpusDataset(
        "flights_hourly_100k", "regression", "arr_delay", _flights_hourly(100_000), "departure"
    ),
]


def dataset_section(dataset: CorpusDataset, landing_dir: str = "landing") -> dict[str, object]:
    """The only config section a user writes for the dataset."""
    section: dict[str, object] = {
        "landing_dir": landing_dir,
        "target": dataset.target,
        "task": dataset.task,
    }
    if dataset.timestamp_column:
        section["timestamp_column"] = dataset.timestamp_column
    return section


def land(dataset: CorpusDataset, landing: Path, withheld_path: Path) -> pd.DataFrame:
    """Land the first 80% of rows as CSV batches; write the last 20% aside, unlanded.

    A dataset with a timestamp keeps its time order, so the withheld rows are the
    newest. The others are shuffled (seeded) first: their published order is no time
    order, and the wine rows are sorted by class, so an unshuffled last 20% would hold
    one class only. Returns the landed rows as ``read_csv`` gives them back.
    """
    frame = dataset.load()
    if dataset.timestamp_column is None:
        frame = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)
    cut = int(len(frame) * (1 - WITHHELD_SHARE))
    landing.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(0, cut, BATCHES + 1).astype(int)
    for index, (start, end) in enumerate(itertools.pairwise(edges)):
        frame.iloc[start:end].to_csv(landing / f"{dataset.name}_{index:02d}.csv", index=False)
    frame.iloc[cut:].to_csv(withheld_path, index=False)
    return pd.concat(
        [pd.read_csv(path) for path in sorted(landing.glob("*.csv"))], ignore_index=True
    )


def reference_predictions(
    dataset: CorpusDataset, landed: pd.DataFrame, withheld: pd.DataFrame
) -> np.ndarray:
    """What a user gets in five lines: a default HistGradientBoosting on the landed rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    def inputs(frame: pd.DataFrame) -> pd.DataFrame:
        X = frame.drop(columns=[c for c in (dataset.target, dataset.timestamp_column) if c])
        text = X.select_dtypes(exclude="number").columns
        return X.astype({c: "category" for c in text})

    regression = dataset.task == "regression"
    model = (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
        categorical_features="from_dtype", random_state=0
    )
    model.fit(inputs(landed), landed[dataset.target])
    return np.asarray(model.predict(inputs(withheld)))


def score(dataset: CorpusDataset, truth: pd.Series, predicted: object) -> float:
    """R² for regression, macro F1 for classification."""
    from sklearn.metrics import f1_score, r2_score

    if dataset.task == "regression":
        return float(r2_score(truth, predicted))
    return float(f1_score(truth, predicted, average="macro"))


def reference_score(dataset: CorpusDataset, landed: pd.DataFrame, withheld: pd.DataFrame) -> float:
    predicted = reference_predictions(dataset, landed, withheld)
    return score(dataset, withheld[dataset.target], predicted)
