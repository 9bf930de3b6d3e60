"""The service follows only the deploy folder's ``current`` link and reports load failures."""

import os

import pytest

from ml_pipeline.serving.champion import ChampionWatcher
from ml_pipeline.serving.metrics import ServiceMetrics
from ml_pipeline.serving.model import ModelSourceError, current_version_dir


def test_no_deployment_yet_is_not_an_error(tmp_path) -> None:
    assert current_version_dir(tmp_path / "deploy") is None


def test_current_leads_to_a_version_folder_inside_the_deploy_folder(tmp_path) -> None:
    deploy = tmp_path / "deploy"
    (deploy / "v3").mkdir(parents=True)
    (deploy / "current").symlink_to("v3")
    assert current_version_dir(deploy) == (deploy / "v3").resolve()


def test_a_link_out_of_the_deploy_folder_is_refused(tmp_path) -> None:
    deploy, elsewhere = tmp_path / "deploy", tmp_path / "elsewhere"
    deploy.mkdir()
    elsewhere.mkdir()
    (deploy / "current").symlink_to(elsewhere)
    with pytest.raises(ModelSourceError, match="outside the deploy folder"):
        current_version_dir(deploy)


def test_a_dangling_link_is_refused(tmp_path) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    os.symlink("v9", deploy / "current")
    with pytest.raises(ModelSourceError, match="cannot be followed"):
        current_version_dir(deploy)


def test_a_version_that_fails_to_load_is_reported_once_and_not_served(tmp_path) -> None:
    deploy = tmp_path / "deploy"
    (deploy / "v1").mkdir(parents=True)
    (deploy / "v1" / "MLmodel").write_text("not: [a model")
    (deploy / "current").symlink_to("v1")
    metrics = ServiceMetrics()
    watcher = ChampionWatcher(deploy, metrics)
    assert watcher.check() is False
    assert watcher.check() is False
    assert watcher.model is None
    assert watcher.error.startswith("v1: ModelSourceError")
    assert metrics.value("ml_pipeline_model_load_failures_total") == 1


def _export_tiny_champion(deploy) -> None:
    """A tiny linear champion exported with its input example, as a deployment does."""
    import mlflow.sklearn

    from ml_pipeline.config import CandidateConfig
    from ml_pipeline.core import tracking
    from ml_pipeline.core.deploy.deploy_folder import point_current
    from ml_pipeline.core.model import training
    from ml_pipeline_tests.conftest import tiny_rows

    X = tiny_rows(60, seed=0)
    y = 2.0 * X["temp"] + (X["weather"] == "rain") * 5.0
    candidate = CandidateConfig(name="linear", estimator="linear")
    model = training.fit_configuration(candidate, "regression", X, y, "timestamp", [], 0)
    mlflow.sklearn.save_model(
        model,
        str(deploy / "v1"),
        signature=tracking.signature_for(X, model.predict(X.head(5)), []),
        input_example=tracking.as_landed(X.head(5)),
        serialization_format="skops",
        skops_trusted_types=tracking.SKOPS_TRUSTED_TYPES,
        pip_requirements=[],
    )
    point_current(deploy, deploy / "v1")


def test_the_compiled_path_serves_when_it_scores_the_input_example_alike(tmp_path) -> None:
    _export_tiny_champion(tmp_path)
    watcher = ChampionWatcher(tmp_path, ServiceMetrics())
    assert watcher.check() is True
    assert watcher.model.compiled is not None
    assert watcher.model.scoring_path == "preprocessing compiled to NumPy"


def test_a_compiled_path_that_scores_the_input_example_differently_is_dropped(
    tmp_path, monkeypatch
) -> None:
    import dataclasses

    from ml_pipeline.serving import model as served

    def skewed(pipeline):
        scorer = compile_pipeline(pipeline)
        shifted = dataclasses.replace(
            scorer.preprocess,
            blocks=[(c, lambda v, f=f: f(v) + 1.0) for c, f in scorer.preprocess.blocks],
        )
        return dataclasses.replace(scorer, preprocess=shifted)

    compile_pipeline = served.compile_pipeline
    monkeypatch.setattr(served, "compile_pipeline", skewed)
    _export_tiny_champion(tmp_path)
    watcher = ChampionWatcher(tmp_path, ServiceMetrics())
    assert watcher.check() is True
    assert watcher.model.compiled is None
    assert "differs on the input example" in watcher.model.scoring_path


def test_compiled_scoring_can_be_turned_off(tmp_path) -> None:
    _export_tiny_champion(tmp_path)
    watcher = ChampionWatcher(tmp_path, ServiceMetrics(), compiled=False)
    assert watcher.check() is True
    assert watcher.model.compiled is None
    assert "compiled_scoring is off" in watcher.model.scoring_path
