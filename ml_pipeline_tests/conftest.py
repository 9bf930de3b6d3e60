"""Shared fixtures: configs written to temp folders, small demo data, fast training."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline_tests.servers import PROJECT_VARIABLES, child_environment

# Small enough for a test to train in seconds, still exercising every code path.
FAST_TRAINING = {
    "sample_rows": 5000,
    "cv_folds": 2,
    "search_iterations": 1,
    "n_jobs": 1,
    "candidates": [
        {"name": "ridge", "estimator": "linear", "search": {"alpha": [1.0]}},
        {
            "name": "hgb",
            "estimator": "hist_gradient_boosting",
            "params": {"max_iter": 60},
            "search": {"learning_rate": [0.1]},
        },
    ],
}

BIKE_DATASET = {
    "landing_dir": "landing",
    "file_pattern": ["*.csv", "*.parquet"],
    "target": "count",
    "task": "regression",
    "timestamp_column": "timestamp",
    "id_columns": ["record_id"],
    "drop_columns": ["casual", "registered"],
}


# A migrated, empty MLflow store, made once per test process: creating one runs every
# schema migration (seconds), and most tests start a new project. The CLI's first-run
# test creates its store as a user's first run does.
_MIGRATED_MLFLOW_STORE: Path | None = None

CREATE_MLFLOW_STORE = "import sys; from mlflow.tracking import MlflowClient; \
MlflowClient(sys.argv[1]).search_experiments()"


@pytest.fixture(scope="session", autouse=True)
def _migrated_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where this test process keeps the migrated store; it is made on first use, so a run
    of tests that start no project pays nothing."""
    global _MIGRATED_MLFLOW_STORE
    _MIGRATED_MLFLOW_STORE = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    yield
    _MIGRATED_MLFLOW_STORE = None


def _migrated_store() -> Path | None:
    store = _MIGRATED_MLFLOW_STORE
    if store is not None and not store.exists():
        subprocess.run(
            [sys.executable, "-c", CREATE_MLFLOW_STORE, f"sqlite:///{store.as_posix()}"],
            check=True,
            capture_output=True,
            env=child_environment(None),
        )
    return store


def _embedded_mlflow_store(folder: Path, document: dict) -> Path | None:
    """Where the project ``document`` in ``folder`` keeps its embedded MLflow store."""
    if (document.get("mlflow") or {}).get("tracking_uri"):
        return None
    data_dir = Path((document.get("storage") or {}).get("data_dir", "data"))
    return (folder / data_dir if not data_dir.is_absolute() else data_dir) / "mlflow/mlflow.db"


def write_config(folder: Path, document: dict, *, migrated_store: bool = True) -> Path:
    """Write ``document`` as ``folder``'s pipeline.yaml; with ``migrated_store``, the
    project's embedded MLflow store starts as a copy of the migrated one."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    store = _embedded_mlflow_store(folder, document)
    template = _migrated_store() if migrated_store and store and not store.exists() else None
    if template is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, store)
    return path


# What a measurement of the demo's sensors can be, as the demo's pipeline.yaml declares:
# the generator's glitches (a humidity of 250) fall outside and become gaps.
BIKE_BOUNDS = {"temp": [-30, 50], "humidity": [0, 100], "windspeed": [0, 120]}


def bike_document(**sections: dict) -> dict:
    document = {
        "dataset": dict(BIKE_DATASET),
        "cleaning": {"outliers": {"bounds": dict(BIKE_BOUNDS)}},
        "mlflow": {"experiment": "bikes_test", "registered_model": "bikes_test"},
        "training": dict(FAST_TRAINING),
        "sensor": {"settle_seconds": 0},
    }
    document.update(sections)
    return document


@pytest.fixture
def bike_config(tmp_path: Path) -> PipelineConfig:
    return load_config(write_config(tmp_path / "project", bike_document()))


def land_demo_bikes(config: PipelineConfig) -> PipelineConfig:
    """Land eight small demo batches in ``config``'s landing folder."""
    write_demo_data(
        DemoSpec(batches=8, rows_per_batch=240),
        config.dataset.landing_dir,
        config.data_dir / "demo_truth",
    )
    return config


@pytest.fixture
def landed_bikes(bike_config: PipelineConfig) -> PipelineConfig:
    """The bike config with eight demo batches landed."""
    return land_demo_bikes(bike_config)


@pytest.fixture(scope="module", autouse=True)
def _no_store_leaks_between_modules() -> Iterator[None]:
    """mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which a config without a
    tracking URI then follows: a module-scoped project must not inherit the last module's
    store, so each module starts and ends with MLflow's process-wide URIs unset.
    Loading a model in a test prepends its shipped code folder to ``sys.path``; that is
    taken off too, or a later module's worker processes would import from it."""
    import mlflow

    import_path = list(sys.path)
    with pytest.MonkeyPatch.context() as patch:
        for name in PROJECT_VARIABLES:
            patch.delenv(name, raising=False)
        yield
    sys.path[:] = import_path
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may read the developer's config, MLflow server or Dagster home."""
    for name in PROJECT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")


def tiny_regression_document(**sections: dict) -> dict:
    """A config for the tiny timestamp/temp/weather regression models of fast tests."""
    return {
        "dataset": {
            "landing_dir": "landing",
            "target": "count",
            "task": "regression",
            "timestamp_column": "timestamp",
        },
        "storage": {"data_dir": "data"},
        **sections,
    }


def tiny_rows(count: int, seed: int) -> pd.DataFrame:
    """Hourly feature rows for those models (temperatures with three decimals, as a CSV
    round trip keeps them)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=count, freq="h"),
            "temp": rng.normal(15, 5, count).round(3),
            "weather": rng.choice(["clear", "rain"], count),
        }
    )


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 emulator (moto's server) for the whole session; see ``ml_pipeline_tests.s3``."""
    from ml_pipeline_tests.s3 import s3_emulator

    with s3_emulator(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_root(s3_endpoint: str):
    """An empty folder of a fresh bucket on the emulator, as a storage location."""
    from ml_pipeline.core.storage import location
    from ml_pipeline_tests.s3 import new_bucket

    return location(f"s3://{new_bucket(s3_endpoint)}/team", {"endpoint_url": s3_endpoint})
