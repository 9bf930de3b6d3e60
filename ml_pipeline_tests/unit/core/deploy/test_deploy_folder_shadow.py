"""The deploy folder's shadow link and the challenger exports it leads to."""

import os

import pytest

from ml_pipeline.core.deploy.deploy_folder import (
    SHADOW_LINK,
    DeployFolderError,
    current_name,
    point_current,
    prune_challengers,
    remove_link,
)


def test_the_shadow_link_leads_to_a_version_or_a_challengers_run(tmp_path) -> None:
    for name in ("v3", "run-0abc"):
        (tmp_path / name).mkdir()
        point_current(tmp_path, tmp_path / name, SHADOW_LINK)
        assert current_name(tmp_path, SHADOW_LINK) == name
    remove_link(tmp_path, SHADOW_LINK)
    assert current_name(tmp_path, SHADOW_LINK) is None
    remove_link(tmp_path, SHADOW_LINK)  # nothing to remove is not an error


def test_current_never_leads_to_a_challengers_run(tmp_path) -> None:
    (tmp_path / "run-0abc").mkdir()
    point_current(tmp_path, tmp_path / "run-0abc")
    with pytest.raises(DeployFolderError, match="not a v<N> export"):
        current_name(tmp_path)


def test_pruning_removes_only_challengers_no_longer_shadowed(tmp_path) -> None:
    for name in ("v1", "v2", "run-01", "run-02", "run-03", "notes"):
        (tmp_path / name).mkdir()
    point_current(tmp_path, tmp_path / "v2")
    assert prune_challengers(tmp_path, keep="run-03") == ["run-01", "run-02"]
    assert sorted(os.listdir(tmp_path)) == ["current", "notes", "run-03", "v1", "v2"]
    assert prune_challengers(tmp_path / "missing", keep=None) == []
