"""promotion.approval: manual, through the real asset graph, registry and deploy folder."""

import datetime as dt
import os

import dagster as dg
import pytest

from ml_pipeline.commands.execution import approve_candidate, run_pipeline
from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.deploy.history import promotion_history
from ml_pipeline.core.deploy.switch import ApprovalError, reject
from ml_pipeline.core.monitor.prediction_log import SHADOW_ROLE, LoggedRequest, write_records
from ml_pipeline.core.ownership import person
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, write_config

pytestmark = pytest.mark.slow

MANUAL = {"approval": "manual"}
RIDGE_ONLY = {
    **FAST_TRAINING,
    "candidates": [FAST_TRAINING["candidates"][0]],
    "reference_model": False,
}
HGB_ONLY = {**FAST_TRAINING, "candidates": [FAST_TRAINING["candidates"][1]]}


def _shadow_scored(config, version: str, rows: int) -> None:
    """Prediction log records of ``rows`` rows the shadow scored, as the service writes
    them (the service's shadow itself is tested in unit/serving)."""
    record = LoggedRequest(
        time=dt.datetime.now(dt.UTC),
        endpoint="/predict",
        model_version=version,
        status=200,
        rows=rows,
        latency_ms=1.0,
        role=SHADOW_ROLE,
        row_ids=[str(i) for i in range(rows)],
        predictions=[0.0] * rows,
    )
    write_records([record], config.predictions_dir)


def test_a_winner_waits_for_a_person_who_approves_or_rejects_it(tmp_path) -> None:
    project = tmp_path / "project"
    weak = load_config(write_config(project, bike_document(training=RIDGE_ONLY, promotion=MANUAL)))
    write_demo_data(DemoSpec(batches=10), weak.dataset.landing_dir, weak.data_dir / "truth")
    store = mlflow_store(weak)
    current, shadow = weak.deploy_dir / "current", weak.deploy_dir / "shadow"
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "instance")) as instance:
        first = run_pipeline(weak, instance)
        assert first.error is None and first.validation.decision.promote
        # Registered and exported, but nothing serves until a person says so.
        assert first.champion.awaiting_approval == "1" and not first.champion.promoted
        assert store.champion() is None and str(store.candidate().version) == "1"
        assert not current.exists()
        # While it waits, the service scores every request with it in the shadow.
        assert shadow.resolve().name == "v1"
        with pytest.raises(ApprovalError, match="version 2 is not awaiting approval"):
            approve_candidate(weak, instance, "2")
        asking = weak.model_copy(
            update={"promotion": weak.promotion.model_copy(update={"min_shadow_rows": 50})}
        )
        with pytest.raises(ApprovalError, match=r"scored 0 served.*asks for 50"):
            approve_candidate(asking, instance, "1")
        _shadow_scored(weak, "1", rows=50)

        approved = approve_candidate(asking, instance, "1")
        assert approved.to_version == "1" and current.resolve().name == "v1"
        assert not shadow.exists()
        [event] = instance.fetch_materializations(
            dg.AssetKey(names.DEPLOYED_MODEL), limit=1
        ).records
        assert event.asset_materialization.tags[names.DATA_VERSION_TAG] == "v1"
        assert str(store.champion().version) == "1" and store.candidate() is None

        strong = load_config(
            write_config(project, bike_document(training=HGB_ONLY, promotion=MANUAL))
        )
        write_demo_data(
            DemoSpec(batches=2, start=DemoSpec().start.replace(day=11)),
            strong.dataset.landing_dir,
            strong.data_dir / "truth",
        )
        better = run_pipeline(strong, instance)
        assert better.validation.decision.promote, better.validation.decision.reason
        assert (better.champion.version, better.champion.awaiting_approval) == ("1", "2")
        assert current.resolve().name == "v1" and shadow.resolve().name == "v2"
        reject(store, "2", person(), strong.deploy_dir)
        assert not os.path.lexists(shadow)
        assert str(store.champion().version) == "1" and store.candidate() is None
        with pytest.raises(ApprovalError, match="none is"):
            reject(store, "2", person())

    history = promotion_history(store)
    assert [(e.decision, e.version) for e in history] == [
        ("awaiting approval", None),
        ("approved", "1"),
        ("awaiting approval", "1"),
        ("rejected", "1"),
    ]
    assert history[1].started_by == f"ml-pipeline approve ({person()})"
    assert history[3].started_by == f"ml-pipeline reject ({person()})"
