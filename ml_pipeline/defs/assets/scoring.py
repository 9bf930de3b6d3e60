"""Batch scoring: one partition per file in the scoring folder."""

import time

import dagster as dg

from ml_pipeline.core import names
from ml_pipeline.core.data.intake import LandingFileError, read_landed_file
from ml_pipeline.core.data.landing import content_digest, find_landed_file
from ml_pipeline.core.deploy import batch_scoring
from ml_pipeline.defs.assets.metadata import markdown_table, table_facts
from ml_pipeline.defs.partitions import scoring_files
from ml_pipeline.defs.resources import MlflowResource, PipelineSettings, WarehouseResource
from ml_pipeline.defs.retries import retry_only_outages

SCORING_GROUP = "scoring"


def _prediction_summary(scored, task: str) -> dg.MarkdownMetadataValue:
    predictions = scored[batch_scoring.PREDICTION]
    if task == "classification":
        counts = predictions.astype(str).value_counts().sort_index()
        return markdown_table([{"class": k, "rows": int(v)} for k, v in counts.items()])
    figures = predictions.describe(percentiles=[0.5])
    return markdown_table([{k: round(float(v), 4) for k, v in figures.items()}])


@dg.asset(
    partitions_def=scoring_files,
    # Scored by the champion: the lineage graph draws it, and a promotion marks earlier
    # scorings as made by an older model (a keep leaves the champion's version as it was).
    deps=[names.DEPLOYED_MODEL],
    group_name=SCORING_GROUP,
    description=(
        "Every row of one file in the scoring folder, scored by the champion or by the "
        f"registered version named in the run tag `{names.MODEL_VERSION_TAG}`. Each row "
        "keeps its columns and gains the prediction, the model version, the input "
        "partition and its row number in the file."
    ),
    kinds={"parquet", "scikitlearn"},
)
@retry_only_outages
def batch_predictions(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    stages: dict[str, float] = {}

    def timed(stage: str, work, *args, **kwargs):
        begun = time.perf_counter()
        result = work(*args, **kwargs)
        stages[stage] = round(time.perf_counter() - begun, 3)
        return result

    config = settings.load()
    key = context.partition_key
    store = mlflow.get()
    try:
        version = batch_scoring.resolve_version(
            store, context.run.tags.get(names.MODEL_VERSION_TAG)
        )
        path = find_landed_file(config.scoring_dir, config.dataset.patterns, key)
        frame = timed("read", read_landed_file, path, config.dataset, with_target=False).frame
        pipeline = timed("load_model", batch_scoring.load_version, store, version)
        scored = timed(
            "score",
            batch_scoring.score_frame,
            frame,
            pipeline,
            version=version,
            partition_key=key,
            source=path.name,
            chunk_rows=config.batch_scoring.chunk_rows,
        )
    except (batch_scoring.BatchScoringError, LandingFileError, FileNotFoundError) as error:
        # The file stays where it is: a scoring file is the user's, not ours to move.
        raise dg.Failure(description=str(error)) from None
    refused = scored[scored[batch_scoring.SCORE_ERROR].notna()]
    if len(refused):
        context.log.warning(
            f"{path.name}: {len(refused)} row(s) not scored, e.g. row "
            f"{refused[batch_scoring.INPUT_ROW].iloc[0]}: "
            f"{refused[batch_scoring.SCORE_ERROR].iloc[0]}"
        )
    written = timed("write", warehouse.get().write, names.BATCH_PREDICTIONS, key, scored)
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            **table_facts(scored, seconds),
            "model_version": version,
            "source_file": dg.MetadataValue.path(str(path)),
            names.SOURCE_DIGEST: content_digest(path),
            "rows_per_second": round(len(scored) / seconds, 1) if seconds else None,
            # load_model is near 0 when this process scored with the version before.
            "seconds_by_stage": dg.MetadataValue.json(stages),
            "unscored_rows": len(refused),
            "unscored_examples": markdown_table(
                refused[[batch_scoring.INPUT_ROW, batch_scoring.SCORE_ERROR]]
                .head(5)
                .to_dict("records")
            ),
            "predictions": _prediction_summary(scored, config.dataset.task),
            "written_to": dg.MetadataValue.path(str(written)),
        }
    )
