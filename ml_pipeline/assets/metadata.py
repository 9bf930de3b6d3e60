"""Helpers that turn plain results into Dagster metadata."""

from __future__ import annotations

import warnings

import dagster as dg
import pandas as pd

from ml_pipeline.core.data.expectations import SuiteResult
from ml_pipeline.core.monitor.reference import MAJOR_SHIFT, DriftReport


def markdown_table(rows: list[dict[str, object]]) -> dg.MarkdownMetadataValue:
    if not rows:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False))


def drift_table(report: DriftReport | None) -> dg.MarkdownMetadataValue:
    """PSI per column, largest first, then the columns judged as constant in the batch."""
    if report is None:
        return markdown_table([])
    rows = [
        {"column": c, "psi": round(v, 4), "shifted": v > MAJOR_SHIFT, "note": ""}
        for c, v in sorted(report.per_column.items(), key=lambda kv: -kv[1])
    ]
    rows += [
        {"column": c, "psi": None, "shifted": c in report.unusual_constants, "note": note}
        for c, note in sorted(report.constant.items())
    ]
    return markdown_table(rows)


def counts_table(counts: dict[str, int], what: str) -> dg.MarkdownMetadataValue:
    return markdown_table([{"column": c, what: n} for c, n in sorted(counts.items())])


def table_facts(frame: pd.DataFrame, seconds: float) -> dict[str, object]:
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()]
    )
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": schema,
        "columns": len(frame.columns),
        "seconds": round(seconds, 3),
    }


BLOCKING_CHECK = "expectations"
WARNING_CHECK = "expectation_warnings"


def expectation_check_specs(
    asset_key: str, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """Checks evaluated per partition, so each landed file has its own verdict in the UI.

    Partitioned check specs are a preview feature of Dagster 1.13, used on purpose and
    pinned by the version range; its warning would otherwise print on every load.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _specs(asset_key, partitions_def)


def _specs(asset_key: str, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            BLOCKING_CHECK,
            asset=asset_key,
            partitions_def=partitions_def,
            blocking=True,
            description="Great Expectations that must hold; a failure stops downstream work.",
        ),
        dg.AssetCheckSpec(
            WARNING_CHECK,
            asset=asset_key,
            partitions_def=partitions_def,
            description="Expectations learned from the training reference; failures warn.",
        ),
    ]


def expectation_check_results(result: SuiteResult) -> list[dg.AssetCheckResult]:
    """One blocking (ERROR) and one warning (WARN) check result from a GX suite run."""
    results = []
    for name, failures, severity in (
        (BLOCKING_CHECK, result.blocking_failures, dg.AssetCheckSeverity.ERROR),
        (WARNING_CHECK, result.warnings, dg.AssetCheckSeverity.WARN),
    ):
        results.append(
            dg.AssetCheckResult(
                check_name=name,
                passed=not failures,
                severity=severity,
                metadata={
                    "expectations_evaluated": result.evaluated,
                    "failed": len(failures),
                    "failures": markdown_table([f.row() for f in failures]),
                },
            )
        )
    return results
