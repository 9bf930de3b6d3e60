"""Per-file assets: raw_samples → cleaned_data → features, one partition per landed file."""

import time

import dagster as dg

from ml_pipeline.assets.metadata import counts_table, table_facts
from ml_pipeline.core.cleaning import clean_batch
from ml_pipeline.core.features import FEATURE_PREFIX, build_feature_table
from ml_pipeline.core.fileio import read_landing_file
from ml_pipeline.core.landing import content_digest, find_landed_file
from ml_pipeline.resources import PipelineSettings, WarehouseResource

landed_files = dg.DynamicPartitionsDefinition(name="landed_files")

INGEST_GROUP = "ingest"


@dg.asset(
    partitions_def=landed_files,
    group_name=INGEST_GROUP,
    description="One landed batch file, stored as read: every CSV column kept as text.",
    kinds={"parquet"},
)
def raw_samples(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    dataset = settings.load().dataset
    path = find_landed_file(dataset.landing_dir, dataset.patterns, context.partition_key)
    frame = read_landing_file(path)
    warehouse.get().write("raw_samples", context.partition_key, frame)
    return dg.MaterializeResult(
        metadata={
            **table_facts(frame, time.perf_counter() - started),
            "source_file": dg.MetadataValue.path(str(path)),
            "source_bytes": path.stat().st_size,
            "source_digest": content_digest(path),
        }
    )


@dg.asset(
    partitions_def=landed_files,
    deps=[raw_samples],
    group_name=INGEST_GROUP,
    description=(
        "The batch with exact duplicates removed, types coerced, rows without a target "
        "dropped, outliers and missing values treated as configured."
    ),
    kinds={"parquet", "pandas"},
)
def cleaned_data(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    config = settings.load()
    store = warehouse.get()
    raw = store.read("raw_samples", context.partition_key)
    cleaned, report = clean_batch(raw, config.dataset, config.cleaning)
    store.write("cleaned_data", context.partition_key, cleaned)
    context.log.info(report.summary())
    return dg.MaterializeResult(
        metadata={
            **table_facts(cleaned, time.perf_counter() - started),
            "summary": report.summary(),
            "rows_in": report.rows_in,
            "rows_removed": report.rows_in - report.rows_out,
            "duplicates_removed": report.duplicates_removed,
            "missing_target_removed": report.missing_target_removed,
            "outlier_rows_removed": report.outlier_rows_removed,
            "missing_rows_removed": report.missing_rows_removed,
            "unparseable_values": counts_table(report.mistyped, "set missing"),
            "outliers": dg.MetadataValue.md(
                f"method `{config.cleaning.outliers.method}`, treatment "
                f"`{config.cleaning.outliers.treatment}`\n\n"
                + counts_table(report.outliers, "outliers").value
            ),
            "missing_values": dg.MetadataValue.md(
                f"policy `{config.cleaning.missing}`\n\n"
                + counts_table(report.missing, "missing").value
            ),
            "column_kinds": dg.MetadataValue.json(report.column_kinds),
        }
    )


@dg.asset(
    partitions_def=landed_files,
    deps=[cleaned_data],
    group_name=INGEST_GROUP,
    description=(
        "Model-ready rows: the raw input columns, the features the model derives from them "
        f"(prefixed `{FEATURE_PREFIX}`, computed by the same code the deployed model runs), "
        "and the target."
    ),
    kinds={"parquet", "scikitlearn"},
)
def features(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    dataset = settings.load().dataset
    store = warehouse.get()
    cleaned = store.read("cleaned_data", context.partition_key)
    table = build_feature_table(
        cleaned,
        dataset.target,
        dataset.timestamp_column,
        [*dataset.id_columns, *dataset.drop_columns],
    )
    store.write("features", context.partition_key, table)
    derived = [
        c.removeprefix(FEATURE_PREFIX) for c in table.columns if c.startswith(FEATURE_PREFIX)
    ]
    return dg.MaterializeResult(
        metadata={
            **table_facts(table, time.perf_counter() - started),
            "model_features": dg.MetadataValue.json(derived),
        }
    )
