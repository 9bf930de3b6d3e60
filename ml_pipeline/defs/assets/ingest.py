"""Per-file assets: raw_samples → cleaned_data → features, one partition per landed file."""

import time

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core import names
from ml_pipeline.core.crashpoints import crash_point
from ml_pipeline.core.data import expectations
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.config_faults import preflight
from ml_pipeline.core.data.contract import (
    SchemaContract,
    create_contract,
    infer_contract,
    record_evidence,
    resolve_contract,
)
from ml_pipeline.core.data.feature_table import FEATURE_PREFIX, build_feature_table
from ml_pipeline.core.data.intake import (
    Intake,
    LandingFileError,
    conform_to_contract,
    quarantine,
    read_landed_file,
)
from ml_pipeline.core.data.landing import content_digest, find_landed_file
from ml_pipeline.core.monitor.reference import drift, load_reference
from ml_pipeline.defs.assets.metadata import (
    counts_table,
    drift_table,
    expectation_check_result,
    expectation_check_specs,
    markdown_table,
    table_facts,
)
from ml_pipeline.defs.partitions import landed_files
from ml_pipeline.defs.resources import PipelineSettings, WarehouseResource
from ml_pipeline.defs.retries import retry_only_outages

INGEST_GROUP = "ingest"


def live_partitions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, table: str
) -> list[str]:
    """Registered partitions whose ``table`` data is in the warehouse.

    A failed or quarantined file never writes it (and loses what it had written), so
    whole-history assets built on this never see rows of a failed partition.
    """
    registered = set(context.instance.get_dynamic_partitions(landed_files.name))
    return [key for key in warehouse.get().partitions(table) if key in registered]


def contract_schema(contract: SchemaContract) -> dg.TableSchema:
    """The contract as Dagster shows a table's columns: kind, role, required."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=column.kind,
                description=f"{column.role}, {'required' if column.required else 'optional'}",
                constraints=dg.TableColumnConstraints(nullable=not column.required),
            )
            for column in contract.columns
        ]
    )


def _take_in(path, key: str, config: PipelineConfig) -> tuple[Intake, SchemaContract]:
    """Read a landed file and hold it to the contract, inferring the contract from it if
    it is the first and counting its values while kinds are undecided; raises
    LandingFileError."""
    dataset, threshold = config.dataset, config.cleaning.numeric_parse_threshold
    intake = read_landed_file(path, dataset)
    contract = resolve_contract(config.contract_path, dataset)
    if contract is None:
        inferred = infer_contract(
            intake.frame, dataset, threshold, path.name, dataset.kind_evidence_rows, key
        )
        contract = create_contract(inferred, config.contract_path)
    conformed = conform_to_contract(path, intake, contract, threshold)
    if contract.wants_evidence(key):
        contract = record_evidence(
            config.contract_path, conformed.frame, key, threshold, dataset.kind_evidence_rows
        )
    return conformed, contract


@dg.asset(
    partitions_def=landed_files,
    group_name=INGEST_GROUP,
    description=(
        "One landed batch file, stored as read (CSV columns as text). A file that cannot be "
        "read or breaks the schema fails its partition and is moved to the quarantine folder."
    ),
    kinds={"parquet"},
    check_specs=expectation_check_specs(names.RAW_SAMPLES, landed_files),
)
@retry_only_outages
def raw_samples(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    config = settings.load()
    key = context.partition_key
    path = find_landed_file(config.dataset.landing_dir, config.dataset.patterns, key)
    digest = content_digest(path)
    try:
        intake, contract = _take_in(path, key, config)
    except LandingFileError as error:
        fault = preflight(config.dataset, config.cleaning, config.contract_path)
        if fault is not None:
            # Every file would fail alike: the config is wrong, and the file stays put.
            raise dg.Failure(description=f"config error: {config.source_path}: {fault}") from None
        moved = quarantine(path, config.quarantine_dir, str(error), key)
        # An earlier version of this partition must not keep feeding training.
        for table in names.INGEST_ASSETS:
            warehouse.get().drop(table, key)
        raise dg.Failure(
            description=f"{error} (quarantined to {moved})",
            metadata={names.QUARANTINED_TO: dg.MetadataValue.path(str(moved))},
        ) from None
    for warning in intake.warnings:
        context.log.warning(f"{path.name}: {warning}")
    warehouse.get().write(names.RAW_SAMPLES, key, intake.frame)
    crash_point("ingest")
    checks = expectations.validate(
        intake.frame, expectations.raw_suite(config.dataset, config.quality, contract)
    )
    return dg.MaterializeResult(
        metadata={
            **table_facts(intake.frame, time.perf_counter() - started),
            # The contract, not the text columns a CSV is read as, is this table's schema.
            "dagster/column_schema": contract_schema(contract),
            "contract_version": contract.version,
            "contract_source": contract.source,
            names.IGNORED_COLUMNS: dg.MetadataValue.json(intake.ignored),
            "source_file": dg.MetadataValue.path(str(path)),
            "source_bytes": path.stat().st_size,
            names.SOURCE_DIGEST: digest,
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in intake.warnings) or "none"),
            names.INTAKE_WARNINGS: dg.MetadataValue.json(intake.warnings),
        },
        check_results=[expectation_check_result(checks)],
    )


@dg.asset(
    partitions_def=landed_files,
    deps=[raw_samples],
    group_name=INGEST_GROUP,
    description=(
        "The batch with exact duplicates removed, types coerced, rows without a target "
        "dropped, outliers and missing values treated as configured, and its drift against "
        "the champion's training reference."
    ),
    kinds={"parquet", "pandas"},
    check_specs=expectation_check_specs(names.CLEANED_DATA, landed_files),
)
@retry_only_outages
def cleaned_data(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    config = settings.load()
    tables = warehouse.get()
    raw = tables.read(names.RAW_SAMPLES, context.partition_key)
    contract = resolve_contract(config.contract_path, config.dataset)
    kinds = contract.kinds() if contract is not None else None
    cleaned, report = clean_batch(raw, config.dataset, config.cleaning, kinds)
    tables.write(names.CLEANED_DATA, context.partition_key, cleaned)
    context.log.info(report.summary())
    reference = load_reference(config.reference_path)
    drift_metadata = {}
    if reference is not None:
        measured = drift(cleaned, reference)
        drift_metadata = {
            names.DRIFT_SCORE: round(measured.overall, 4),
            "drift_by_column": drift_table(measured),
        }
    suite = expectations.cleaned_suite(
        config.dataset, config.cleaning, config.quality, reference, contract
    )
    checks = expectations.validate(cleaned, suite)
    outliers = config.cleaning.outliers
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
            "non_finite_values": counts_table(report.non_finite, "set missing"),
            "outliers": dg.MetadataValue.md(
                f"method `{outliers.method}`, treatment `{outliers.treatment}`\n\n"
                + markdown_table(
                    [
                        {
                            "column": c,
                            "outliers": n,
                            "treatment": report.outlier_treatment[c],
                            "examples": ", ".join(f"{v:.6g}" for v in report.outlier_examples[c]),
                        }
                        for c, n in sorted(report.outliers.items())
                    ]
                ).value
            ),
            "missing_values": dg.MetadataValue.md(
                f"policy `{config.cleaning.missing}`\n\n"
                + markdown_table(
                    [
                        {
                            "column": c,
                            "missing": n,
                            "imputed": report.imputed.get(c, 0),
                            "left for the model": report.left_for_model.get(c, 0),
                        }
                        for c, n in sorted(report.missing.items())
                    ]
                ).value
            ),
            "column_kinds": dg.MetadataValue.json(report.column_kinds),
            names.CLEANING_NOTES: dg.MetadataValue.json(report.cell_notes()),
            **drift_metadata,
        },
        check_results=[expectation_check_result(checks)],
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
    check_specs=expectation_check_specs(names.FEATURES, landed_files),
)
@retry_only_outages
def features(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    config = settings.load()
    dataset = config.dataset
    tables = warehouse.get()
    cleaned = tables.read(names.CLEANED_DATA, context.partition_key)
    table = build_feature_table(
        cleaned,
        dataset.target,
        dataset.timestamp_column,
        dataset.ignored_columns,
    )
    tables.write(names.FEATURES, context.partition_key, table)
    derived = [
        c.removeprefix(FEATURE_PREFIX) for c in table.columns if c.startswith(FEATURE_PREFIX)
    ]
    reference = load_reference(config.reference_path)
    suite = expectations.features_suite(config.dataset, config.quality, reference, table)
    checks = expectations.validate(table, suite)
    return dg.MaterializeResult(
        metadata={
            **table_facts(table, time.perf_counter() - started),
            "model_features": dg.MetadataValue.json(derived),
        },
        check_results=[expectation_check_result(checks)],
    )
