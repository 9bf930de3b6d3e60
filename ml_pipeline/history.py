"""Reading the Dagster instance's materialization history, page by page."""

from collections.abc import Iterator

import dagster as dg

PAGE = 10_000  # the most records Dagster returns in one fetch


def iter_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, after_storage_id: int | None = None
) -> Iterator[dg.EventLogRecord]:
    """Every materialization of ``asset_key`` after ``after_storage_id``, oldest first."""
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=after_storage_id),
            limit=PAGE,
            cursor=cursor,
            ascending=True,
        )
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def latest_storage_id(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> int | None:
    """Where the newest materialization of ``asset_key`` sits in the event log."""
    page = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key), limit=1, ascending=False
    )
    return page.records[0].storage_id if page.records else None
