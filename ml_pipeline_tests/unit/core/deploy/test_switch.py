"""Rolling back restores the older version's training reference, or says it has none.

Two tiny registered versions on a real sqlite MLflow store: no training run is needed
to exercise what the rollback does with each version's logged files.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from ml_pipeline.core import tracking
from ml_pipeline.core.deploy.switch import REFERENCE_ARTIFACT, rollback
from ml_pipeline.core.monitor.reference import ReferenceProfile, build_reference


def _reference(mean: float) -> ReferenceProfile:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"temp": rng.normal(mean, 1, 200), "y": rng.normal(size=200)})
    return build_reference(frame, "y", [], None, ["temp"])


def _register(store: tracking.MlflowStore, reference: ReferenceProfile | None) -> str:
    experiment = store.activate()
    with mlflow.start_run(experiment_id=experiment) as run:
        model = DummyRegressor().fit(np.zeros((3, 1)), [1.0, 2.0, 3.0])
        # No requirement inference: it starts a subprocess per model and adds nothing here.
        mlflow.sklearn.log_model(model, name="model", pip_requirements=[])
        if reference is not None:
            mlflow.log_text(reference.to_json(), REFERENCE_ARTIFACT)
    version = store.register(f"runs:/{run.info.run_id}/model", {})
    store.promote(version)
    return version


def _store(tmp_path: Path) -> tracking.MlflowStore:
    return tracking.MlflowStore(
        f"sqlite:///{tmp_path / 'mlflow.db'}", "e", "m", artifact_root=tmp_path / "artifacts"
    )


def test_rollback_puts_the_older_versions_reference_in_place(tmp_path: Path) -> None:
    store = _store(tmp_path)
    older, newer = _reference(0.0), _reference(50.0)
    _register(store, older)
    _register(store, newer)
    reference_path = tmp_path / "reference.json"
    newer.save(reference_path)

    outcome = rollback(store, tmp_path / "deploy", reference_path)

    assert (outcome.from_version, outcome.to_version) == ("2", "1")
    assert outcome.reference_note is None
    assert ReferenceProfile.from_json(reference_path.read_text()) == older


def test_a_version_without_a_reference_leaves_none_and_says_so(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _register(store, None)
    _register(store, _reference(50.0))
    reference_path = tmp_path / "reference.json"
    _reference(50.0).save(reference_path)

    outcome = rollback(store, tmp_path / "deploy", reference_path)

    assert outcome.to_version == "1"
    assert not reference_path.exists()
    assert outcome.reference_note.startswith("version 1 logged no training reference")


def test_an_unreadable_reference_stops_the_rollback_before_anything_moves(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    _register(store, _reference(0.0))
    _register(store, _reference(50.0))
    first_run = store.version("1").run_id
    logged = Path(mlflow.get_run(first_run).info.artifact_uri.removeprefix("file://"))
    (logged / REFERENCE_ARTIFACT).unlink()
    (logged / REFERENCE_ARTIFACT).mkdir()  # still listed, no longer readable as text
    reference_path = tmp_path / "reference.json"
    # One profile, saved and compared: each build is stamped with the second it was made.
    serving = _reference(50.0)
    serving.save(reference_path)

    with pytest.raises(RuntimeError, match=f"logged {REFERENCE_ARTIFACT} but it cannot be read"):
        rollback(store, tmp_path / "deploy", reference_path)

    assert str(store.champion().version) == "2"
    assert ReferenceProfile.from_json(reference_path.read_text()) == serving
