import pytest

from ml_pipeline.commands.backfill import (
    BackfillError,
    Progress,
    backfill_params,
    check_model_version,
    graphql,
    select_partitions,
)
from ml_pipeline.core import names

KNOWN = ["a", "b", "c", "d"]


def test_named_partitions_must_exist() -> None:
    assert select_partitions(KNOWN, ["b", "d"]) == ["b", "d"]
    with pytest.raises(BackfillError, match="unknown partitions: x, y"):
        select_partitions(KNOWN, ["a", "x", "y"])


def test_ranges_follow_partition_order() -> None:
    assert select_partitions(KNOWN, start="b", end="c") == ["b", "c"]
    assert select_partitions(KNOWN, start="c") == ["c", "d"]
    with pytest.raises(BackfillError, match="unknown partition 'z'"):
        select_partitions(KNOWN, start="z")
    with pytest.raises(BackfillError, match="the range is empty"):
        select_partitions(KNOWN, start="d", end="a")


def test_progress_line_and_failures() -> None:
    progress = Progress(
        status="COMPLETED_FAILED",
        assets={
            "raw_samples": {"targeted": 3, "materialized": 2, "in_progress": 0, "failed": 1},
            "trained_model": {"materialized": False, "in_progress": False, "failed": True},
        },
    )
    assert progress.done and progress.failed_assets() == ["raw_samples", "trained_model"]
    assert progress.line() == "COMPLETED_FAILED: raw_samples 2/3 (1 failed), trained_model failed"


def test_unreachable_webserver_is_one_clear_error() -> None:
    with pytest.raises(
        BackfillError, match=r"cannot reach the Dagster webserver at http://127\.0\.0\.1:9"
    ):
        graphql("http://127.0.0.1:9", "{ version }", {}, timeout=5)


def test_a_rescore_backfill_selects_batch_predictions_and_tags_the_version() -> None:
    params = backfill_params(["a", "b"], "t", model_version="3")
    assert params["assetSelection"] == [{"path": [names.BATCH_PREDICTIONS]}]
    assert {"key": names.MODEL_VERSION_TAG, "value": "3"} in params["tags"]
    assert params["partitionNames"] == ["a", "b"]
    champion = backfill_params(None, "t", model_version="champion")
    assert [t["key"] for t in champion["tags"]] == [names.TRIGGER_TAG, names.STARTED_BY_TAG]
    assert champion["tags"][1]["value"].count("@") == 1  # user@host: who launched it
    assert champion["allPartitions"] is True


def test_a_remeasure_backfill_selects_champion_performance_with_the_version() -> None:
    params = backfill_params(["a"], "t", model_version="2", scored=names.CHAMPION_PERFORMANCE)
    assert params["assetSelection"] == [{"path": [names.CHAMPION_PERFORMANCE]}]
    assert {"key": names.MODEL_VERSION_TAG, "value": "2"} in params["tags"]


def test_an_ingest_backfill_never_carries_a_model_version() -> None:
    params = backfill_params(["a"], "t", retrain=True)
    selected = [entry["path"][0] for entry in params["assetSelection"]]
    assert selected == [*names.INGEST_ASSETS, *names.MODEL_ASSETS]
    assert names.MODEL_VERSION_TAG not in {t["key"] for t in params["tags"]}


def test_a_rescore_version_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(BackfillError, match="model version 'latest': a version number"):
        backfill_params(["a"], "t", model_version="latest")


def test_a_rescore_version_is_checked_against_the_registry_before_anything_launches(
    tmp_path,
) -> None:
    import mlflow
    from sklearn.dummy import DummyRegressor

    from ml_pipeline.core.tracking import MlflowStore

    store = MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "e", "scorer", tmp_path / "a")
    with pytest.raises(BackfillError, match="model version 3: not a registered version of scorer"):
        check_model_version(store, "3")
    with mlflow.start_run(experiment_id=store.activate()):
        logged = mlflow.sklearn.log_model(DummyRegressor().fit([[0.0]], [1.0]), name="model")
    assert store.register(logged.model_uri, {}) == "1"
    check_model_version(store, "1")
    with pytest.raises(BackfillError, match="model version 2: not a registered version"):
        check_model_version(store, "2")
    with pytest.raises(BackfillError, match="'champion': scorer has none yet"):
        check_model_version(store, "champion")
    store.point_alias("1")
    check_model_version(store, "champion")
    with pytest.raises(BackfillError, match="model version 'latest': a version number"):
        check_model_version(store, "latest")
