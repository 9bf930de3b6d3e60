"""The two decisions the sensors and ``ml-pipeline run`` share, each made here once:
what to ingest from a scan of the landing folder, and whether to retrain now.

Both read the project's Dagster instance; the rules themselves are plain functions in
``core`` (``core.data.landing.plan_ingest``, ``core.monitor.retraining.retrain_reasons``).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.landing import (
    IngestPlan,
    LandedFile,
    load_forgotten,
    plan_ingest,
    scan_landing,
)
from ml_pipeline.core.monitor.retraining import Activity, Evidence, retrain_reasons
from ml_pipeline.runtime.history import ingested_digests, retraining_evidence


def plan_landing(
    instance: dg.DagsterInstance,
    config: PipelineConfig,
    cache: dict[str, tuple] | None = None,
    reingest: bool = False,
) -> tuple[list[LandedFile], IngestPlan]:
    """The landing folder's settled files, and which of them to ingest.

    ``cache`` is what a sensor's cursor remembers of digests already judged; files not in
    it are looked up in the instance's history, so runs started elsewhere (the CLI, the
    UI, backfills) count. ``reingest`` plans every file again.
    """
    dataset = config.dataset
    files = scan_landing(dataset.landing_dir, dataset.patterns, config.sensor.settle_seconds)
    known = set(instance.get_dynamic_partitions(names.LANDED_FILES))
    cache = cache or {}
    unseen = [landed.partition_key for landed in files if landed.partition_key not in cache]
    ingested = ingested_digests(instance, unseen) if unseen and not reingest else {}
    plan = plan_ingest(files, known, cache, ingested, load_forgotten(config.forgotten_path))
    return files, plan


@dataclass(frozen=True)
class RetrainDecision:
    reasons: list[str]  # empty: do not retrain now
    explanation: str  # a sentence saying why, or why not
    evidence: Evidence
    run_key: str  # one training per stretch of history: the storage ids that bound it

    @property
    def trigger(self) -> str:
        return ",".join(self.reasons)


def decide_retraining(
    instance: dg.DagsterInstance, config: PipelineConfig, activity: Activity
) -> RetrainDecision:
    """Whether the retraining policy calls for a training now, on what evidence."""
    evidence, after, newest = retraining_evidence(instance)
    reasons, explanation = retrain_reasons(evidence, activity, config.retraining)
    return RetrainDecision(reasons, explanation, evidence, f"retrain-{after}-{newest}")
