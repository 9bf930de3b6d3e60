"""Reading the Dagster instance's materialization history, page by page."""

import time
from collections.abc import Iterator

import dagster as dg

from ml_pipeline.core import names
from ml_pipeline.core.data.landing import OutageFailure
from ml_pipeline.core.monitor.retraining import Evidence

PAGE = 10_000  # the most records Dagster returns in one fetch


def iter_materializations(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    after_storage_id: int | None = None,
    partitions: list[str] | None = None,
    before_storage_id: int | None = None,
    ascending: bool = True,
) -> Iterator[dg.EventLogRecord]:
    """Materializations of ``asset_key`` after ``after_storage_id`` and before
    ``before_storage_id`` (of ``partitions``, if given), oldest first unless not
    ``ascending``."""
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=asset_key,
                after_storage_id=after_storage_id,
                before_storage_id=before_storage_id,
                asset_partitions=partitions,
            ),
            limit=PAGE,
            cursor=cursor,
            ascending=ascending,
        )
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def latest_record(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dg.EventLogRecord | None:
    """The newest materialization of ``asset_key`` (its storage id and timestamp), if any."""
    page = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key), limit=1, ascending=False
    )
    return page.records[0] if page.records else None


def ingested_digests(
    instance: dg.DagsterInstance, partitions: list[str] | None = None
) -> dict[str, str]:
    """The source digest each fully ingested partition (of ``partitions``) was last read from.

    A partition counts once its features exist; the digest is the one raw_samples
    recorded, so the CLI, the sensor and the UI agree on what needs ingesting.
    """
    finished = instance.get_materialized_partitions(dg.AssetKey(names.FEATURES))
    digests = {}
    for record in iter_materializations(instance, dg.AssetKey(names.RAW_SAMPLES), None, partitions):
        materialization = record.asset_materialization
        value = materialization.metadata.get(names.SOURCE_DIGEST) if materialization else None
        if value is not None and record.partition_key in finished:
            digests[record.partition_key] = value.value
    return digests


def retraining_evidence(instance: dg.DagsterInstance) -> tuple[Evidence, int | None, int | None]:
    """What arrived since the last training, plus the storage ids that bound it.

    The retrain sensor and ``ml-pipeline run`` decide on the same evidence.
    """
    last = latest_record(instance, dg.AssetKey(names.TRAINED_MODEL))
    after = last.storage_id if last else None
    records = list(iter_materializations(instance, dg.AssetKey(names.FEATURES), after))
    drifts = [
        record.asset_materialization.metadata[names.DRIFT_SCORE].value
        for record in iter_materializations(instance, dg.AssetKey(names.CLEANED_DATA), after)
        if record.asset_materialization
        and names.DRIFT_SCORE in record.asset_materialization.metadata
    ]
    # Decay on landed partitions (champion_performance) or on labelled served rows.
    decays = [
        value
        for key in (names.CHAMPION_PERFORMANCE, names.PREDICTION_MONITORING)
        for record in iter_materializations(instance, dg.AssetKey(key), after)
        if isinstance(value := _metadata(record).get(names.DECAY), int | float)
    ]
    hours = (time.time() - last.timestamp) / 3600 if last else None
    newest = max((record.storage_id for record in records), default=after)
    touched = {record.partition_key for record in records}
    new = content_changed(instance, touched, after)
    evidence = Evidence(
        new_partitions=len(new),
        unchanged_partitions=len(touched - new),
        max_drift=max(drifts) if drifts else None,
        hours_since_training=hours,
        decay=max(decays) if decays else None,
    )
    return evidence, after, newest


def _source_digests(records: Iterator[dg.EventLogRecord]) -> dict[str, str]:
    """Partition -> the landed file's digest raw_samples recorded (the last record wins;
    "" for a record without one, which counts as new content)."""
    digests = {}
    for record in records:
        materialization = record.asset_materialization
        value = materialization.metadata.get(names.SOURCE_DIGEST) if materialization else None
        digests[record.partition_key] = value.value if value is not None else ""
    return digests


def content_changed(
    instance: dg.DagsterInstance, partitions: set[str], after: int | None
) -> set[str]:
    """Of ``partitions``, whose features were materialized after storage id ``after`` (the
    last training), those whose landed content is new: first ingested since, or read from
    a file whose digest differs from the one they had then. Re-materializing unchanged
    files (a backfill, a re-ingest) brings nothing a training could learn from."""
    if after is None or not partitions:
        return set(partitions)
    raw, keys = dg.AssetKey(names.RAW_SAMPLES), sorted(partitions)
    now = _source_digests(iter_materializations(instance, raw, after, keys))
    then = _source_digests(iter_materializations(instance, raw, None, keys, after + 1))
    return {key for key, digest in now.items() if digest == "" or digest != then.get(key)}


# Failed ingest runs looked at per tick: outages are rare, and the newest say enough.
OUTAGE_RUNS_LOOKED_AT = 500


def outage_failures(instance: dg.DagsterInstance, job_name: str) -> list[OutageFailure]:
    """Per file content, the sensor-started runs of ``job_name`` that failed for an
    outage (their run key names the content): how many, and the latest's end and reason."""
    records = instance.get_run_records(
        dg.RunsFilter(
            job_name=job_name,
            statuses=[dg.DagsterRunStatus.FAILURE],
            tags={names.OUTAGE_TAG: "true"},
        ),
        limit=OUTAGE_RUNS_LOOKED_AT,
    )
    grouped: dict[tuple[str, str], list[dg.RunRecord]] = {}
    for record in records:
        run_key = record.dagster_run.tags.get(names.RUN_KEY_TAG, "")
        key, _, rest = run_key.partition("@")
        if rest:
            grouped.setdefault((key, rest.split("#", 1)[0]), []).append(record)
    failures = []
    for (key, digest), runs in grouped.items():
        latest = max(runs, key=lambda r: r.end_time or 0.0)
        failures.append(
            OutageFailure(
                partition_key=key,
                digest=digest,
                attempts=len(runs),
                last_failed_at=latest.end_time or latest.create_timestamp.timestamp(),
                reason=latest.dagster_run.tags.get(names.OUTAGE_REASON_TAG, "an outage"),
            )
        )
    return failures


def _metadata(record: dg.EventLogRecord) -> dict[str, object]:
    materialization = record.asset_materialization
    return {k: v.value for k, v in materialization.metadata.items()} if materialization else {}


def latest_scored_by(
    instance: dg.DagsterInstance, version: str, limit: int, besides: str
) -> list[str]:
    """The newest ``limit`` partitions (other than ``besides``) whose latest
    champion_performance measurement ``version`` made, newest first: the warehouse keeps
    only the latest measurement's rows."""
    found: list[str] = []
    looked = {besides}
    key = dg.AssetKey(names.CHAMPION_PERFORMANCE)
    for record in iter_materializations(instance, key, ascending=False):
        if len(found) >= limit:
            break
        partition, metadata = record.partition_key, _metadata(record)
        if partition in looked:
            continue
        looked.add(partition)
        if metadata.get("measured") is True and metadata.get(names.SCORED_BY) == version:
            found.append(partition)
    return found


def performance_points(instance: dg.DagsterInstance, metric: str) -> list[tuple[float, str, float]]:
    """(time, version, ``metric``) of every partition champion_performance measured."""
    points = []
    key = dg.AssetKey(names.CHAMPION_PERFORMANCE)
    for record in iter_materializations(instance, key):
        metadata = _metadata(record)
        version, score = metadata.get(names.SCORED_BY), metadata.get(metric)
        if isinstance(version, str) and isinstance(score, int | float):
            points.append((record.timestamp, version, float(score)))
    return points
