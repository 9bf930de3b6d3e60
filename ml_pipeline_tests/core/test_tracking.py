"""The MLflow store leaves the process environment as it found it."""

import os

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
