"""Backfills launched and followed through the Dagster GraphQL API of a running webserver.

Only the standard library is used: the same requests work from any HTTP client, and
the README shows them as curl commands.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from ml_pipeline.commands.errors import cause_line
from ml_pipeline.core import names
from ml_pipeline.core.ownership import person

DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

PARTITIONS_QUERY = """
query Partitions($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode { partitionKeys }
    ... on Error { message }
  }
}"""

LAUNCH_MUTATION = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

STATUS_QUERY = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      error { message }
      runs(limit: 10000) { runId status }
      assetBackfillData {
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts {
            assetKey { path } numPartitionsTargeted numPartitionsInProgress
            numPartitionsMaterialized numPartitionsFailed
          }
          ... on UnpartitionedAssetStatus { assetKey { path } inProgress materialized failed }
        }
      }
    }
    ... on Error { message }
  }
}"""

FAILURE_QUERY = """
query Failure($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent {
          stepKey error { className message errorChain { error { className message } } }
        }
      }
    }
  }
}"""


DECISION_QUERY = """
query Decision($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on BoolMetadataEntry { boolValue }
        }
      }
    }
  }
}"""


class BackfillError(RuntimeError):
    """The API refused or the backfill failed; the message says which and why."""


def graphql(url: str, query: str, variables: dict, timeout: float = 30) -> dict:
    request = urllib.request.Request(
        url.rstrip("/") + "/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.URLError as error:
        raise BackfillError(
            f"cannot reach the Dagster webserver at {url}: {error.reason}"
        ) from None
    if body.get("errors"):
        raise BackfillError(f"GraphQL error: {body['errors'][0]['message']}")
    return body["data"]


def partition_keys(url: str, asset: str = names.RAW_SAMPLES) -> list[str]:
    node = graphql(url, PARTITIONS_QUERY, {"path": [asset]})["assetNodeOrError"]
    if node["__typename"] != "AssetNode":
        raise BackfillError(f"asset {asset}: {node.get('message', node['__typename'])}")
    return node["partitionKeys"]


def select_partitions(
    known: list[str],
    partitions: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> list[str]:
    """The partitions named, or the range from ``start`` to ``end`` in partition order."""
    if partitions:
        unknown = [key for key in partitions if key not in known]
        if unknown:
            raise BackfillError(f"unknown partitions: {', '.join(unknown)}")
        return partitions
    for bound in (start, end):
        if bound is not None and bound not in known:
            raise BackfillError(f"unknown partition {bound!r} in the range")
    first = known.index(start) if start else 0
    last = known.index(end) if end else len(known) - 1
    if first > last:
        raise BackfillError(f"the range is empty: {start!r} comes after {end!r}")
    return known[first : last + 1]


def _check_version_form(version: str) -> None:
    if not (version == "champion" or version.isdigit()):
        raise BackfillError(f"model version {version!r}: a version number or 'champion'")


def check_model_version(store, version: str) -> None:
    """Refuse, before anything is launched, a version the registry does not hold (or
    'champion' while there is none): each run would otherwise fail on it in turn."""
    from mlflow.exceptions import MlflowException

    _check_version_form(version)
    if version == "champion":
        if store.champion() is None:
            raise BackfillError(f"model version 'champion': {store.registered_model} has none yet")
        return
    try:
        store.version(version)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise BackfillError(
            f"model version {version}: not a registered version of {store.registered_model}"
        ) from None


def backfill_params(
    keys: list[str] | None,
    title: str,
    retrain: bool = False,
    model_version: str | None = None,
    scored: str = names.BATCH_PREDICTIONS,
) -> dict[str, object]:
    """What ``launchPartitionBackfill`` gets: the ingest assets (with ``retrain``, the
    model assets too), or, with ``model_version``, the ``scored`` asset (batch_predictions
    or champion_performance) scored again by that registered version ("champion":
    whichever is champion when each run starts)."""
    tags = [
        {"key": names.TRIGGER_TAG, "value": names.TRIGGER_BACKFILL},
        {"key": names.STARTED_BY_TAG, "value": person()},
    ]
    if model_version is not None:
        _check_version_form(model_version)
        assets = [scored]
        if model_version != "champion":
            tags.append({"key": names.MODEL_VERSION_TAG, "value": model_version})
    else:
        assets = [*names.INGEST_ASSETS, *(names.MODEL_ASSETS if retrain else ())]
    params: dict[str, object] = {
        "assetSelection": [{"path": [name]} for name in assets],
        "tags": tags,
        "title": title,
    }
    if keys is None:
        params["allPartitions"] = True
    else:
        params["partitionNames"] = keys
    return params


def launch(url: str, params: dict[str, object]) -> str:
    """Launch the asset backfill ``params`` describe; return its id."""
    result = graphql(url, LAUNCH_MUTATION, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"backfill refused: {result.get('message', result['__typename'])}")
    return result["backfillId"]


@dataclass
class Progress:
    status: str
    assets: dict[str, dict[str, object]] = field(default_factory=dict)
    failed_runs: list[str] = field(default_factory=list)
    error: str | None = None
    run_ids: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in DONE

    def line(self) -> str:
        parts = []
        for name, counts in self.assets.items():
            if "targeted" in counts:
                parts.append(
                    f"{name} {counts['materialized']}/{counts['targeted']}"
                    + (f" ({counts['failed']} failed)" if counts["failed"] else "")
                )
            else:
                state = (
                    "failed"
                    if counts["failed"]
                    else "done"
                    if counts["materialized"]
                    else ("running" if counts["in_progress"] else "waiting")
                )
                parts.append(f"{name} {state}")
        return f"{self.status}: " + ", ".join(parts)

    def failed_assets(self) -> list[str]:
        return [name for name, counts in self.assets.items() if counts["failed"]]


def progress(url: str, backfill_id: str) -> Progress:
    node = graphql(url, STATUS_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
    if node["__typename"] != "PartitionBackfill":
        raise BackfillError(f"backfill {backfill_id}: {node.get('message', node['__typename'])}")
    assets = {}
    for entry in (node.get("assetBackfillData") or {}).get("assetBackfillStatuses", []):
        name = "/".join(entry["assetKey"]["path"])
        if entry["__typename"] == "AssetPartitionsStatusCounts":
            assets[name] = {
                "targeted": entry["numPartitionsTargeted"],
                "materialized": entry["numPartitionsMaterialized"],
                "in_progress": entry["numPartitionsInProgress"],
                "failed": entry["numPartitionsFailed"],
            }
        else:
            assets[name] = {
                k: entry[v]
                for k, v in (
                    ("materialized", "materialized"),
                    ("in_progress", "inProgress"),
                    ("failed", "failed"),
                )
            }
    return Progress(
        status=node["status"],
        assets=assets,
        failed_runs=[run["runId"] for run in node["runs"] if run["status"] == "FAILURE"],
        error=(node.get("error") or {}).get("message"),
        run_ids=[run["runId"] for run in node["runs"]],
    )


def promotion_decision(url: str, run_ids: list[str]) -> str | None:
    """The gate's decision, when one of ``run_ids`` made the latest validation_metrics."""
    found = graphql(url, DECISION_QUERY, {"path": [names.VALIDATION_METRICS]})["assetOrError"]
    latest = (found or {}).get("assetMaterializations") or []
    if not latest or latest[0]["runId"] not in run_ids:
        return None
    entries = {e["label"]: e for e in latest[0]["metadataEntries"]}
    promoted = entries.get("promote", {}).get("boolValue")
    reason = entries.get("decision", {}).get("text", "")
    return f"{'promoted' if promoted else 'champion kept'}: {reason}"


def failure_reason(url: str, run_id: str) -> str:
    logs = graphql(url, FAILURE_QUERY, {"runId": run_id})["logsForRun"]
    for event in logs.get("events", []):
        if event["__typename"] == "ExecutionStepFailureEvent" and event.get("error"):
            outer = event["error"]
            links = [outer, *(link["error"] for link in outer.get("errorChain") or [])]
            cause = cause_line((link.get("className"), link["message"]) for link in links)
            return f"run {run_id} step {event['stepKey']}: {cause}"
    return f"run {run_id} failed"


def follow(
    url: str,
    backfill_id: str,
    timeout: float,
    report: Callable[[str], None],
    poll_seconds: float = 2.0,
) -> Progress:
    """Poll until the backfill finishes, reporting each change of progress."""
    deadline = time.monotonic() + timeout
    last_line = None
    while True:
        current = progress(url, backfill_id)
        line = current.line()
        if line != last_line:
            report(line)
            last_line = line
        if current.done:
            return current
        if time.monotonic() > deadline:
            raise BackfillError(
                f"backfill {backfill_id} still {current.status} after {timeout:.0f}s"
            )
        time.sleep(poll_seconds)
