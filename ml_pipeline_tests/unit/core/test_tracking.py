"""The MLflow store leaves the process environment as it found it."""

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from ml_pipeline.core.tracking import MlflowStore


def _store(tmp_path, name: str) -> MlflowStore:
    return MlflowStore(f"sqlite:///{tmp_path / name / 'mlflow.db'}", "e", "m")


def test_activating_a_store_does_not_export_its_uri_to_child_processes(tmp_path) -> None:
    # A `dagster dev` started from this process must not inherit this project's store.
    _store(tmp_path, "a").activate()
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_a_uri_the_user_exported_stays_exported(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    _store(tmp_path, "b").activate()
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mlflow.example:5000"


@pytest.fixture(scope="module")
def logged_model(tmp_path_factory) -> tuple[str, object]:
    """A small pipeline logged as training logs it, and rows it scores."""
    import mlflow

    from ml_pipeline.config import CandidateConfig
    from ml_pipeline.core import tracking
    from ml_pipeline.core.model.training import build_pipeline
    from ml_pipeline_tests.frames import labelled_frame as data

    tmp_path = tmp_path_factory.mktemp("logged")
    X, y = data("regression")
    candidate = CandidateConfig(name="hgb", estimator="hist_gradient_boosting")
    model = build_pipeline(candidate, "regression", X, "ts", ["id"], 0).fit(X, y)
    store = MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "e", "m", tmp_path / "artifacts")
    experiment = store.activate()
    with mlflow.start_run(experiment_id=experiment):
        uri = tracking.log_sklearn_model(
            model,
            tracking.signature_for(X, model.predict(X.head(5)), ["id"]),
            tracking.as_landed(X.head(5)),
        )
    return uri, tracking.as_landed(X.head(3))


def test_a_logged_model_lists_what_it_needs_pinned_and_nothing_else(
    logged_model, tmp_path, monkeypatch
) -> None:
    import mlflow.artifacts

    # MLflow's own loader below leaves the model's code folder on sys.path.
    monkeypatch.setattr(sys, "path", list(sys.path))

    from ml_pipeline.core import tracking

    uri, rows = logged_model
    folder = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model"))
    listed = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert sorted(listed) == sorted(tracking.model_requirements())
    assert all("==" in line for line in listed)
    # The project itself is no requirement: the model carries its feature code.
    assert not any(line.startswith("ml-pipeline") for line in listed)
    reloaded = mlflow.pyfunc.load_model(folder)
    assert len(reloaded.predict(rows)) == 3


def _import_the_whole_package() -> str:
    from ml_pipeline.core import names

    return names.__file__


def test_a_process_that_loaded_a_model_still_spawns_workers_on_the_whole_package(
    logged_model,
) -> None:
    # MLflow puts the model's shipped code (a package holding only the feature code)
    # first on sys.path; a worker spawned after that imported this package from it.
    from ml_pipeline.core import tracking

    uri, rows = logged_model
    before = list(sys.path)
    model = tracking.load_sklearn_model(uri)
    assert len(model.predict(rows)) == 3
    assert sys.path == before
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        imported = pool.submit(_import_the_whole_package).result(timeout=120)
    assert Path(imported).parent == Path(tracking.__file__).parent


def test_links_to_runs_and_versions_point_at_the_ui(tmp_path) -> None:
    import mlflow

    store = MlflowStore(
        f"sqlite:///{tmp_path / 'mlflow.db'}", "e", "m", ui_url="http://127.0.0.1:5000"
    )
    experiment = store.activate()
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    assert store.run_url(run.info.run_id) == (
        f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run.info.run_id}"
    )
    assert store.version_url("3") == "http://127.0.0.1:5000/#/models/m/versions/3"
    unlinked = _store(tmp_path, "c")
    assert unlinked.run_url(run.info.run_id) is None and unlinked.version_url("3") is None
