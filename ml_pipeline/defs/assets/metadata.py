"""Helpers that turn plain results into Dagster metadata."""

from __future__ import annotations

import warnings

import dagster as dg
import pandas as pd

from ml_pipeline.core import names
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


EXPECTATIONS_CHECK = "expectations"


def expectation_check_specs(
    asset_key: str, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """One check per asset, evaluated per partition, so each landed file has its own
    verdict in the UI.

    Partitioned check specs are a preview feature of Dagster 1.13, used on purpose and
    pinned by the version range; its warning would otherwise print on every load.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                EXPECTATIONS_CHECK,
                asset=asset_key,
                partitions_def=partitions_def,
                # Dagster stops downstream work only when a blocking check fails with
                # ERROR severity, so one check carries both kinds of expectation.
                blocking=True,
                description="Great Expectations suite. A failed blocking expectation fails "
                "the check (ERROR) and stops downstream work; a failed learned or "
                "non-blocking one fails it as a warning (WARN).",
            )
        ]


def expectation_check_result(result: SuiteResult) -> dg.AssetCheckResult:
    """The suite's verdict: ERROR when a blocking expectation failed, WARN when only
    warnings did. One check instead of one per severity halves the check events each
    ingest run writes."""
    blocking = result.blocking_failures
    return dg.AssetCheckResult(
        check_name=EXPECTATIONS_CHECK,
        passed=not result.failures,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={
            "expectations_evaluated": result.evaluated,
            "failed": len(result.failures),
            "blocking_failed": len(blocking),
            "failures": markdown_table([f.row() for f in result.failures]),
            names.BLOCKED_BY: "; ".join(f.line() for f in blocking),
        },
    )
