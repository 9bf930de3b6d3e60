"""Champion and challenger through the real asset graph, registry and deploy folder."""

import json
import os
import socket

import dagster as dg
import pytest

from ml_pipeline.commands.execution import roll_back, run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.deploy.history import promotion_history
from ml_pipeline.core.names import (
    CODE_VERSION_TAG,
    HOLDOUT_CUTOFF_TAG,
    PARTITIONS_TAG,
    REFIT_TAG,
    TRAINING_CUTOFF_TAG,
)
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline.serving.model import load_served_model
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, write_config

pytestmark = pytest.mark.slow

# Without the default HGB, which would otherwise be deployed in the weak ridge's place.
RIDGE_ONLY = {
    **FAST_TRAINING,
    "candidates": [FAST_TRAINING["candidates"][0]],
    "reference_model": False,
}
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
        assert first.champion.version == "1" and current_version(weak) == "v1"
        [training_run] = instance.get_runs(dg.RunsFilter(job_name="training_job"))
        steps = {s.step_key: s for s in instance.get_run_step_stats(training_run.run_id)}
        assert steps["data_profile"].start_time >= steps["deployed_model"].end_time

        strong = config_with(project, HGB_ONLY)
        refused = run_pipeline(strong, instance, promotion="refuse")
        assert refused.error is None
        assert refused.validation.decision.reason == "promotion refused by run config"
        assert refused.champion.version == "1" and current_version(strong) == "v1"

        # v1 was refit on all ten days, its holdout included. Two new days land: the
        # challenger's holdout (the latest 20%) reaches back into day ten, which v1 saw,
        # so the gate compares the two only on the new days' rows.
        write_demo_data(
            DemoSpec(batches=2, start=DemoSpec().start.replace(day=11)),
            strong.dataset.landing_dir,
            strong.data_dir / "truth",
        )
        better = run_pipeline(strong, instance)
        assert better.error is None
        assert (better.champion.version, better.champion.promoted) == ("2", True)
        validation = better.validation
        assert validation.champion_version_before == "1"
        warehouse = Warehouse(strong.warehouse_dir)
        new_rows = sum(
            warehouse.row_count("features", key) for key in ("bikes_2024-01-11", "bikes_2024-01-12")
        )
        assert validation.compared_rows == new_rows < validation.holdout_rows
        assert validation.challenger_compared["rmse"] < validation.champion_before["rmse"]
        assert "rows neither trained on" in validation.decision.reason
        assert "scored identically in a fresh process" in validation.smoke_test
        assert current_version(strong) == "v2"

        card = json.loads((strong.deploy_dir / "v2" / "model_card.json").read_text())
        assert card["version"] == "2" and card["previous_champion"]["version"] == "1"
        assert card["holdout_metrics"] == better.validation.challenger
        assert len(card["training_data"]["partitions"]) == 12
        assert card["deployed"]["refit"] and card["previous_champion"]["compared_rows"] > 0
        assert card["code_version"] and card["created"] and card["training_data"]["fingerprint"]
        assert (
            (strong.deploy_dir / "v2" / "model_card.md")
            .read_text()
            .startswith("# bikes_test version 2")
        )
        store = mlflow_store(strong)
        version = store.version("2")
        assert version.tags["dagster.run_id"] and version.tags[CODE_VERSION_TAG]
        assert "bikes_2024-01-12" in version.tags[PARTITIONS_TAG]
        assert version.tags[REFIT_TAG] == "true"
        # The refit on all twelve days is what was registered, not the challenger.
        refit = better.validation.refit
        assert version.source == refit.model_uri != better.training.model_uri
        assert refit.rows == sum(better.rows[k] for k in ("train", "holdout"))
        assert set(refit.in_sample) == {"rmse", "mae", "r2"}
        assert set(better.validation.default_hgb) == {"rmse", "mae", "r2"}
        assert version.tags[TRAINING_CUTOFF_TAG].startswith("2024-01-12T23")
        assert HOLDOUT_CUTOFF_TAG not in version.tags

        v2_files = {p.name: p.stat().st_mtime_ns for p in (strong.deploy_dir / "v2").iterdir()}
        write_demo_data(
            DemoSpec(batches=8, start=DemoSpec().start.replace(day=13), label_noise=3),
            strong.dataset.landing_dir,
            strong.data_dir / "truth",
        )
        shadowing = strong.model_copy(
            update={"serving": strong.serving.model_copy(update={"shadow": True})}
        )
        noisy = run_pipeline(shadowing, instance)
        assert noisy.error is None and len(noisy.ingested) == 8
        assert not noisy.validation.decision.promote
        assert noisy.champion.version == "2" and str(store.champion().version) == "2"
        assert current_version(strong) == "v2"
        assert {
            p.name: p.stat().st_mtime_ns for p in (strong.deploy_dir / "v2").iterdir()
        } == v2_files
        # With serving.shadow the challenger that lost is exported for the service to
        # shadow: loadable as served, named by its run.
        shadowed = f"run-{noisy.training.mlflow_run_id}"
        assert os.readlink(strong.deploy_dir / "shadow") == shadowed
        assert sorted(p.name for p in strong.deploy_dir.iterdir()) == [
            "current",
            shadowed,
            "shadow",
            "v1",
            "v2",
        ]
        assert load_served_model(strong.deploy_dir / shadowed).version == shadowed
        # Four trainings: the holdouts of v1, v2 and the latest stay, the refused one's went.
        holdouts = set(Warehouse(strong.warehouse_dir).partitions("holdout"))
        assert holdouts == {*store.registered_run_ids(), noisy.training.mlflow_run_id}
        assert len(holdouts) == 3 and refused.training.mlflow_run_id not in holdouts
        # Keeping the champion is routine: the run succeeds, the gate's check passes and
        # says so, and deployed_model records the champion still serving under its own
        # data version, so nothing downstream of it goes stale.
        gate = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("validation_metrics"), "promotion_gate"), limit=1
        )[0]
        assert gate.status.value == "SUCCEEDED"
        evaluation = gate.event.dagster_event.event_specific_data
        assert evaluation.passed and evaluation.metadata["outcome"].value == "champion kept"
        latest_run = instance.get_run_by_id(gate.run_id)
        assert latest_run.status == dg.DagsterRunStatus.SUCCESS
        deployed = instance.fetch_materializations(dg.AssetKey("deployed_model"), limit=10)
        kept = deployed.records[0].asset_materialization
        assert kept.metadata["promoted"].value is False
        assert kept.metadata["champion_version"].value == "2"
        assert kept.tags["dagster/data_version"] == "v2"
        promotions = [
            r for r in deployed.records if r.asset_materialization.metadata["promoted"].value
        ]
        assert [r.asset_materialization.tags["dagster/data_version"] for r in promotions] == [
            "v2",
            "v1",
        ]

        back = roll_back(strong, instance)
        assert (back.from_version, back.to_version) == ("2", "1")
        assert str(store.champion().version) == "1" and current_version(strong) == "v1"
        latest = instance.fetch_materializations(dg.AssetKey("deployed_model"), limit=1)
        assert latest.records[0].asset_materialization.metadata["champion_version"].value == "1"
        with pytest.raises(RuntimeError, match="nothing to roll back to"):
            roll_back(strong, instance)

        # The registry alone tells the whole story, with who started each decision.
        history = promotion_history(store)
        assert [(e.decision, e.version) for e in history] == [
            ("promoted", "1"),
            ("refused", "1"),
            ("promoted", "2"),
            ("kept", "2"),
            ("rolled back", "1"),
        ]
        assert all(e.metrics.keys() == {"rmse", "mae", "r2"} for e in history[:4])
        assert history[0].started_by.startswith("started by ml-pipeline run (")
        assert history[0].started_by.endswith(f"@{socket.gethostname()})")
        assert history[-1].reason == "version 2 rolled back to version 1"
        table = kept.metadata["promotion_history"].value
        assert "| kept " in table and "| refused " in table


def test_a_rolled_back_version_is_not_promoted_again_unchanged(tmp_path) -> None:
    """The defect: after a rollback from v2 to v1, the next run retrained on the same
    data and promoted a model identical to v2 as v3."""
    project = tmp_path / "project"
    weak, strong = config_with(project, RIDGE_ONLY), config_with(project, HGB_ONLY)
    write_demo_data(DemoSpec(batches=10), weak.dataset.landing_dir, weak.data_dir / "truth")
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        assert run_pipeline(weak, instance).champion.version == "1"
        write_demo_data(
            DemoSpec(batches=2, start=DemoSpec().start.replace(day=11)),
            strong.dataset.landing_dir,
            strong.data_dir / "truth",
        )
        second = run_pipeline(strong, instance, promotion="force")
        assert (second.champion.version, second.champion.promoted) == ("2", True)
        assert roll_back(strong, instance).to_version == "1"

        again = run_pipeline(strong, instance, retrain=True)
        assert again.error is None and not again.validation.decision.promote
        assert again.validation.decision.reason.startswith(
            "the same model as version 2 (same configuration on the same rows), which was "
            "rolled back at "
        )
        assert again.champion.version == "1" and current_version(strong) == "v1"
        # Without new data the retraining policy does not even train.
        assert run_pipeline(strong, instance).not_retrained.startswith("nothing new")

        # Every run, the candidates' included, is in the configured experiment.
        store = mlflow_store(strong)
        client = store.client()
        experiment = client.get_experiment_by_name("bikes_test").experiment_id
        parent = again.training.mlflow_run_id
        children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
        assert sorted(run.info.run_name for run in children) == ["hgb"]
        default = client.get_experiment_by_name("Default")
        assert default is None or not client.search_runs([default.experiment_id])
