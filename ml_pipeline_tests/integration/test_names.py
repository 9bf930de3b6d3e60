"""Shared names: the assets they name exist, and what the ingest assets record is what
the sensors, the CLI and the retraining policy read back."""

import dagster as dg

from ml_pipeline.commands.execution import ingest_landed_files
from ml_pipeline.commands.summary import RunSummary
from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.demo_data import DemoSpec, generate_batch, write_demo_data
from ml_pipeline.core.data.landing import content_digest
from ml_pipeline.core.monitor.reference import build_reference
from ml_pipeline.definitions import build_definitions
from ml_pipeline.defs.jobs import INGEST_JOB, MONITORING_JOB, SCORING_JOB, TRAINING_JOB
from ml_pipeline.runtime.history import ingested_digests, retraining_evidence


def test_every_named_asset_is_defined_and_the_jobs_select_by_those_names(
    bike_config: PipelineConfig,
) -> None:
    definitions = build_definitions(bike_config)
    defined = {
        key.to_user_string() for key in definitions.resolve_asset_graph().get_all_asset_keys()
    }
    assert {
        *names.INGEST_ASSETS,
        *names.MODEL_ASSETS,
        names.PREDICTION_MONITORING,
        names.BATCH_PREDICTIONS,
    } == defined
    for job, expected in (
        (INGEST_JOB, names.INGEST_ASSETS),
        (TRAINING_JOB, names.MODEL_ASSETS),
        (MONITORING_JOB, (names.PREDICTION_MONITORING,)),
        (SCORING_JOB, (names.BATCH_PREDICTIONS,)),
    ):
        selected = definitions.resolve_job_def(job).asset_layer.executable_asset_keys
        assert {key.to_user_string() for key in selected} == set(expected), job


def test_what_ingest_records_is_what_its_readers_find(bike_config: PipelineConfig) -> None:
    spec = DemoSpec(batches=1, rows_per_batch=120)
    (landed,) = write_demo_data(spec, bike_config.dataset.landing_dir, bike_config.data_dir / "t")
    # A reference in place, as after a first deployment: cleaning then measures drift.
    frame = generate_batch(spec, 0)[0]
    build_reference(frame, "count", [], "timestamp", ["temp"]).save(bike_config.reference_path)
    instance = dg.DagsterInstance.ephemeral()
    summary = RunSummary()

    ingest_landed_files(bike_config, instance, summary, reingest=False)

    assert summary.ingested == [landed.stem] and not summary.failed
    assert ingested_digests(instance) == {landed.stem: content_digest(landed)}
    evidence, _after, newest = retraining_evidence(instance)
    assert evidence.new_partitions == 1 and newest is not None
    assert isinstance(evidence.max_drift, float)


def test_a_file_landed_again_with_new_rows_counts_as_new_evidence(
    bike_config: PipelineConfig,
) -> None:
    spec = DemoSpec(batches=1, rows_per_batch=120)
    (landed,) = write_demo_data(spec, bike_config.dataset.landing_dir, bike_config.data_dir / "t")
    complete = landed.read_text()
    lines = complete.splitlines(keepends=True)
    landed.write_text("".join(lines[:60]))  # half-written when first seen
    instance = dg.DagsterInstance.ephemeral()
    ingest_landed_files(bike_config, instance, RunSummary(), reingest=False)
    instance.report_runless_asset_event(dg.AssetMaterialization(names.TRAINED_MODEL))
    assert retraining_evidence(instance)[0].new_partitions == 0

    landed.write_text(complete)  # completed: the same partition, new content
    summary = RunSummary()
    ingest_landed_files(bike_config, instance, summary, reingest=False)

    assert summary.ingested == [landed.stem]
    assert retraining_evidence(instance)[0].new_partitions == 1


# Strings shaped like a tag that are not one: the code location's module, and the key
# of the edge scorer's spec, which lives in the one module the edge device carries.
NOT_TAGS = {"ml_pipeline.definitions", "ml_pipeline.edge_spec"}


def test_every_tag_of_the_package_is_spelled_in_names_only() -> None:
    import ast
    import re
    from pathlib import Path

    import ml_pipeline

    shaped = re.compile(r"^(ml_pipeline[./][a-z_]+|dagster/(partition|run_key))$")
    package = Path(ml_pipeline.__file__).parent
    spelled = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "names.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and shaped.match(value) and value not in NOT_TAGS:
                spelled.append(f"{path.relative_to(package)}:{node.lineno} {value}")
    assert not spelled
