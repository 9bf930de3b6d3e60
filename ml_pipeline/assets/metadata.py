"""Helpers that turn plain results into Dagster metadata."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def markdown_table(rows: list[dict[str, object]]) -> dg.MarkdownMetadataValue:
    if not rows:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False))


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
