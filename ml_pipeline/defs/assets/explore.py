"""Exploration of the cleaned history, shown in the Dagster UI and as an HTML report."""

import time

import dagster as dg

from ml_pipeline.core import names
from ml_pipeline.core.data.profiling import build_profile, exploration_table, to_html, to_markdown
from ml_pipeline.core.fileio import atomic_write_text
from ml_pipeline.defs.assets.ingest import cleaned_data, live_partitions
from ml_pipeline.defs.resources import PipelineSettings, WarehouseResource
from ml_pipeline.defs.retries import retry_only_outages

EXPLORE_GROUP = "explore"


def raw_missing_shares(warehouse, keys: list[str], max_rows: int, seed: int) -> dict[str, float]:
    """Share of empty cells per column as landed, before cleaning filled them."""
    sample = warehouse.sample(names.RAW_SAMPLES, keys, max_rows, seed)
    return {c: float(v) for c, v in sample.isna().mean().items()}


@dg.asset(
    deps=[cleaned_data],
    group_name=EXPLORE_GROUP,
    description=(
        "Statistics, missingness, distributions and correlations of a bounded sample of the "
        "cleaned data (with the derived calendar features), and its strongest relationships "
        "in words. Also written as an HTML report under the reports folder."
    ),
    kinds={"pandas", "matplotlib"},
    # Nothing downstream reads the profile: in a training run it is drawn after the model
    # steps, so it never delays a new champion.
    op_tags={"dagster/priority": "-1"},
)
@retry_only_outages
def data_profile(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    config = settings.load()
    dataset = config.dataset
    tables = warehouse.get()
    keys = live_partitions(context, warehouse, names.CLEANED_DATA)
    if not keys:
        raise dg.Failure(description="no cleaned partitions to profile: ingest landed files first")
    seed, rows = config.training.random_seed, config.profile.sample_rows
    sample = tables.sample(names.CLEANED_DATA, keys, rows, seed)
    table = exploration_table(
        sample, dataset.target, dataset.timestamp_column, dataset.ignored_columns
    )
    profile = build_profile(
        table,
        raw_missing_shares(tables, keys, rows, seed),
        dataset.target,
        dataset.task,
        config.profile.max_plotted_columns,
        f"{dataset.timestamp_column}_" if dataset.timestamp_column else None,
    )
    report = atomic_write_text(
        to_html(profile, f"Data profile: {dataset.target}"),
        config.reports_dir / "data_profile.html",
    )
    sections = to_markdown(profile)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": profile.rows,
            "partitions": len(keys),
            "relationships": dg.MetadataValue.md(sections["relationships"]),
            "statistics": dg.MetadataValue.md(sections["statistics"]),
            "target_relations": dg.MetadataValue.md(sections["target_relations"]),
            "plots": dg.MetadataValue.md(sections["plots"]),
            "report": dg.MetadataValue.path(str(report)),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
