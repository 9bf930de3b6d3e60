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
