"""Champion and challenger through the real asset graph, registry and deploy folder."""

import json

import dagster as dg
import pytest

from ml_pipeline.config import load_config
from ml_pipeline.core.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.tracking import HOLDOUT_CUTOFF_TAG
from ml_pipeline.core.warehouse import Warehouse
from ml_pipeline.resources import resources_for
from ml_pipeline.runner import roll_back, run_pipeline
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, write_config

pytestmark = pytest.mark.slow

RIDGE_ONLY = {**FAST_TRAINING, "candidates": [FAST_TRAINING["candidates"][0]]}
HGB_ONLY = {**FAST_TRAINING, "candidates": [FAST_TRAINING["candidates"][1]]}


def config_with(folder, training):
    return load_config(write_config(folder, bike_document(training=training)))


def current_version(config) -> str:
    return (config.deploy_dir / "current").resolve().name


def test_better_promoted_worse_kept_out_and_rollback(tmp_path) -> None:
    project = tmp_path / "project"
    weak = config_with(project, RIDGE_ONLY)
    write_demo_data(DemoSpec(batches=10), weak.dataset.landing_dir, weak.data_dir / "truth")
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        first = run_pipeline(weak, instance)
        assert first.champion["version"] == "1" and current_version(weak) == "v1"

        strong = config_with(project, HGB_ONLY)
        refused = run_pipeline(strong, instance, promotion="refuse")
        assert refused.error is None
        assert refused.validation["decision"]["reason"] == "promotion refused by run config"
        assert refused.champion["version"] == "1" and current_version(strong) == "v1"

        # Only the candidates changed, no data: the retraining policy alone would not train.
        better = run_pipeline(strong, instance, retrain=True)
        assert better.error is None
        assert better.champion == {**better.champion, "version": "2", "promoted": True}
        assert better.validation["champion_version_before"] == "1"
        assert (
            better.validation["challenger"]["rmse"] < better.validation["champion_before"]["rmse"]
        )
        assert "scored identically in a fresh process" in better.validation["smoke_test"]
        assert current_version(strong) == "v2"

        card = json.loads((strong.deploy_dir / "v2" / "model_card.json").read_text())
        assert card["version"] == "2" and card["previous_champion"]["version"] == "1"
        assert card["holdout_metrics"] == better.validation["challenger"]
        assert len(card["training_data"]["partitions"]) == 10
        assert card["code_version"] and card["created"] and card["training_data"]["fingerprint"]
        assert (
            (strong.deploy_dir / "v2" / "model_card.md")
            .read_text()
            .startswith("# bikes_test version 2")
        )
        store = resources_for(strong)["mlflow"].get()
        version = store.version("2")
        assert version.tags["dagster.run_id"] and version.tags["ml_pipeline.code_version"]
        assert "bikes_2024-01-10" in version.tags["ml_pipeline.partitions"]
        assert version.tags[HOLDOUT_CUTOFF_TAG]

        v2_files = {p.name: p.stat().st_mtime_ns for p in (strong.deploy_dir / "v2").iterdir()}
        write_demo_data(
            DemoSpec(batches=8, start=DemoSpec().start.replace(day=11), label_noise=3),
            strong.dataset.landing_dir,
            strong.data_dir / "truth",
        )
        noisy = run_pipeline(strong, instance)
        assert noisy.error is None and len(noisy.ingested) == 8
        assert not noisy.validation["decision"]["promote"]
        assert noisy.champion["version"] == "2" and str(store.champion().version) == "2"
        assert current_version(strong) == "v2"
        assert {
            p.name: p.stat().st_mtime_ns for p in (strong.deploy_dir / "v2").iterdir()
        } == v2_files
        assert sorted(p.name for p in strong.deploy_dir.iterdir()) == ["current", "v1", "v2"]
        # Four trainings: the holdouts of v1, v2 and the latest stay, the refused one's went.
        holdouts = set(Warehouse(strong.warehouse_dir).partitions("holdout"))
        assert holdouts == {*store.registered_run_ids(), noisy.training["mlflow_run_id"]}
        assert len(holdouts) == 3 and refused.training["mlflow_run_id"] not in holdouts
        gate = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("validation_metrics"), "promotion_gate"), limit=1
        )[0]
        assert gate.status.value == "FAILED"

        back = roll_back(strong, instance)
        assert (back.from_version, back.to_version) == ("2", "1")
        assert str(store.champion().version) == "1" and current_version(strong) == "v1"
        latest = instance.fetch_materializations(dg.AssetKey("deployed_model"), limit=1)
        assert latest.records[0].asset_materialization.metadata["champion_version"].value == "1"
        with pytest.raises(RuntimeError, match="nothing to roll back to"):
            roll_back(strong, instance)
