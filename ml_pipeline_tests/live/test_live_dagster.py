"""The project under a real `dagster dev` (webserver and daemon), driven as users drive it.

One server, on a free loopback port with its own project folder and DAGSTER_HOME,
serves both tests: files dropped into the landing folder must become partitions,
ingest runs and one training run with a champion; a backfill launched through the
GraphQL API must finish; and a real browser must materialize an asset.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest

from ml_pipeline.config import load_config
from ml_pipeline.core.data.demo_data import DemoSpec, write_demo_data
from ml_pipeline.core.ownership import Owner
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.servers import free_port, graphql, running, wait_for_http, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.live]

SENSED = 4
BACKFILLED = 8
RUNS_QUERY = (
    "{ runsOrError(limit: 500) { ... on Runs { results { jobName status tags { key value } } } } }"
)


def runs(url: str) -> list[dict]:
    return graphql(url, RUNS_QUERY)["runsOrError"]["results"]


def failures(url: str, job: str) -> str:
    """The step errors of ``job``'s failed runs, so a failing assertion says why."""
    failed = graphql(
        url,
        f'{{ runsOrError(filter: {{pipelineName: "{job}", statuses: [FAILURE]}}) '
        "{ ... on Runs { results { runId } } } }",
    )["runsOrError"]["results"]
    messages = []
    for run in failed:
        events = graphql(
            url,
            f'{{ logsForRun(runId: "{run["runId"]}") {{ ... on EventConnection {{ events {{ '
            "... on ExecutionStepFailureEvent { stepKey error { message "
            "errorChain { error { message stack } } } } "
            "... on RunFailureEvent { message } } } } }",
        )["logsForRun"]["events"]
        for event in events:
            if event.get("error"):
                chain = [link["error"] for link in event["error"]["errorChain"]]
                cause = chain[-1] if chain else event["error"]
                where = "".join(cause.get("stack") or [])[-1500:]
                messages.append(f"{event['stepKey']}: {cause['message']}{where}")
            elif event.get("message"):
                messages.append(event["message"])
    return "\n".join(messages)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    project = tmp_path_factory.mktemp("live")
    document = bike_document(
        sensor={"interval_seconds": 5, "settle_seconds": 1},
        retraining={"min_new_partitions": 1},
    )
    config = load_config(write_config(project, document))
    port = free_port()
    log = project / "dagster.log"
    cli = shutil.which("ml-pipeline", path=str(Path(sys.executable).parent))
    command = [cli, "ui", "--port", str(port), "--config", str(config.source_path)]
    with running(command, log) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/server_info", server, log, timeout=180)
        yield config, url, log


REPOSITORY = '{repositoryName: "__repository__", repositoryLocationName: "ml_pipeline.definitions"}'


def stop_landing_sensor(url: str) -> None:
    state = graphql(
        url,
        '{ sensorOrError(sensorSelector: {repositoryName: "__repository__", '
        'repositoryLocationName: "ml_pipeline.definitions", '
        'sensorName: "landing_sensor"}) { ... on Sensor { sensorState { id } } } }',
    )
    state_id = state["sensorOrError"]["sensorState"]["id"]
    stopped = graphql(url, f'mutation {{ stopSensor(id: "{state_id}") {{ __typename }} }}')
    assert stopped["stopSensor"]["__typename"] == "StopSensorMutationResult"


def add_partition(url: str, key: str) -> None:
    added = graphql(
        url,
        f"mutation {{ addDynamicPartition(repositorySelector: {REPOSITORY}, "
        f'partitionsDefName: "landed_files", partitionKey: "{key}") '
        "{ __typename } }",
    )
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"


def test_landed_files_flow_to_a_champion_and_a_backfill_finishes(live) -> None:
    config, url, log = live
    landed = write_demo_data(
        DemoSpec(batches=SENSED, rows_per_batch=48),
        config.dataset.landing_dir,
        config.data_dir / "demo_truth",
    )

    def ingested() -> bool:
        counts = Counter((r["jobName"], r["status"]) for r in runs(url))
        if counts[("ingest_job", "FAILURE")]:
            raise AssertionError(f"ingest failed: {counts}\n{failures(url, 'ingest_job')}")
        return counts[("ingest_job", "SUCCESS")] == len(landed)

    wait_until(f"{len(landed)} ingest runs", ingested, 300, log)
    keys = graphql(
        url,
        '{ assetNodeOrError(assetKey: {path: ["raw_samples"]}) '
        "{ ... on AssetNode { partitionKeys } } }",
    )["assetNodeOrError"]
    assert sorted(keys["partitionKeys"]) == sorted(p.stem for p in landed)

    def trained() -> bool:
        training = [r for r in runs(url) if r["jobName"] == "training_job"]
        if any(r["status"] == "FAILURE" for r in training):
            raise AssertionError(f"training failed:\n{failures(url, 'training_job')}")
        return any(r["status"] == "SUCCESS" for r in training)

    wait_until("a training run", trained, 300, log)
    training = [r for r in runs(url) if r["jobName"] == "training_job"]
    assert len(training) == 1, "one training run for the whole wave"
    trigger = {t["key"]: t["value"] for t in training[0]["tags"]}["ml_pipeline/trigger"]
    assert trigger == f"new_partitions:{len(landed)}"
    assert (config.deploy_dir / "current" / "MLmodel").is_file()
    card = json.loads((config.deploy_dir / "current" / "model_card.json").read_text())
    assert card["trigger"] == trigger
    # The UI says why the training ran, on the materialization itself.
    materialized = graphql(
        url,
        '{ assetOrError(assetKey: {path: ["trained_model"]}) { ... on Asset { '
        "assetMaterializations(limit: 1) { metadataEntries { label "
        "... on TextMetadataEntry { text } } } } } }",
    )["assetOrError"]["assetMaterializations"][0]["metadataEntries"]
    why = next(e["text"] for e in materialized if e["label"] == "why_trained")
    assert why == f"retraining sensor: {len(landed)} new partition(s) since the last training"
    # A file-triggered retraining may reuse a search; with none before it, it searched.
    assert card["search"].startswith("searched ")
    assert "not reused: no finished search" in card["search"]

    # History that arrives by API: partitions registered by hand, ingested by the backfill.
    stop_landing_sensor(url)
    later = DemoSpec(
        batches=BACKFILLED - SENSED, rows_per_batch=48, start=DemoSpec().start.replace(month=2)
    )
    for path in write_demo_data(later, config.dataset.landing_dir, config.data_dir / "demo_truth"):
        add_partition(url, path.stem)
    before = len(runs(url))
    # With --retrain the backfill trains too: it succeeds whichever way the gate decides,
    # and says which. The daemon looks at backfills every 30 s, so a second one, of a
    # partition with no file behind it, runs beside it rather than after it.
    launched = backfill_count(url)
    with running(
        backfill_command(config, url, "--all", "--retrain", timeout=600),
        config.data_dir / "backfill.log",
    ) as whole:
        wait_until("the backfill to be launched", lambda: backfill_count(url) > launched, 120, log)
        add_partition(url, "ghost")  # registered after --all chose its partitions
        failed = subprocess.run(
            backfill_command(config, url, "--partitions", "ghost", timeout=300),
            capture_output=True,
            text=True,
            timeout=360,
            check=False,
        )
        assert failed.returncode == 1
        assert "ended COMPLETED_FAILED" in failed.stderr or "ended FAILED" in failed.stderr
        assert "partition 'ghost': no file matching" in failed.stderr
        returncode = whole.wait(timeout=660)
    done = (config.data_dir / "backfill.log").read_text()
    assert returncode == 0, done[-4000:]
    assert f"raw_samples {BACKFILLED}/{BACKFILLED}" in done and "succeeded" in done
    assert "promotion: promoted: " in done or "promotion: champion kept: " in done
    assert len(runs(url)) - before >= BACKFILLED + 1
    assert "database is locked" not in log.read_text()


def backfill_count(url: str) -> int:
    found = graphql(
        url, "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id } } } }"
    )
    return len(found["partitionBackfillsOrError"]["results"])


def backfill_command(config, url: str, *arguments: str, timeout: float) -> list[str]:
    """``ml-pipeline backfill`` against the live webserver, as a user runs it."""
    command = [sys.executable, "-m", "ml_pipeline.commands.cli", "backfill", *arguments]
    return [*command, "--url", url, "--config", str(config.source_path), "--timeout", str(timeout)]


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed here (.ci/run installs Debian's chromium)")
    return found


def dismiss_welcome(page) -> None:
    """Close the community dialog Dagster shows a new browser profile, if it comes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_role("button", name="Skip").click(timeout=5_000)
    except PlaywrightTimeout:
        return
    page.locator(".bp5-overlay-backdrop").first.wait_for(state="detached", timeout=10_000)


def run_status(url: str, run_id_prefix: str) -> str | None:
    query = "{ runsOrError(limit: 20) { ... on Runs { results { runId status } } } }"
    for run in graphql(url, query)["runsOrError"]["results"]:
        if run["runId"].startswith(run_id_prefix):
            return run["status"]
    return None


@contextmanager
def asset_group_page(url: str, group: str, asset: str):
    """A Chromium page on an asset group's graph, once ``asset`` is drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/locations/ml_pipeline.definitions/asset-groups/{group}")
            page.get_by_text(asset, exact=True).first.wait_for(timeout=60_000)
            dismiss_welcome(page)
            page.get_by_text(asset, exact=True).first.wait_for(timeout=60_000)
            yield page
        finally:
            browser.close()


def test_browser_materializes_an_asset(live, tmp_path) -> None:
    _, url, log = live
    with asset_group_page(url, "explore", "data_profile") as page:
        page.get_by_text("data_profile", exact=True).first.click()
        page.get_by_role("button", name="Materialize selected").click()
        toast = page.get_by_text("Launched run", exact=False).first
        toast.wait_for(timeout=30_000)
        run_id = toast.inner_text().split("Launched run")[-1].split()[0]
        wait_until(
            f"run {run_id} to succeed",
            lambda: run_status(url, run_id) in ("SUCCESS", "FAILURE"),
            300,
            log,
        )
        assert run_status(url, run_id) == "SUCCESS"
        page.goto(f"{url}/runs")
        page.get_by_text(run_id, exact=False).first.wait_for(timeout=60_000)
        shot = tmp_path / "materialized.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"screenshot: {shot}")


KEEP_STATE = """
{ assetNodes(assetKeys: [{path: ["deployed_model"]}, {path: ["validation_metrics"]}]) {
    assetKey { path } staleStatus
    assetChecksOrError { ... on AssetChecks { checks {
      name executionForLatestMaterialization { status runId } } } } } }"""


def launch_training(url: str, run_config: str = "") -> str:
    """A training run launched through the API (``run_config`` as GraphQL input)."""
    config = f", runConfigData: {run_config}" if run_config else ""
    launched = graphql(
        url,
        "mutation { launchRun(executionParams: {selector: {"
        'repositoryLocationName: "ml_pipeline.definitions", '
        f'repositoryName: "__repository__", jobName: "training_job"}}{config}}}) '
        "{ __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }",
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_browser_shows_a_kept_champion_with_no_failed_or_unsynced_marker(live, tmp_path) -> None:
    _, url, log = live
    # A person refuses this run's promotion: a keep, whatever the challenger scores.
    run_id = launch_training(url, '{ops: {validation_metrics: {config: {decision: "refuse"}}}}')
    wait_until(
        f"the refused training {run_id} to end",
        lambda: run_status(url, run_id) in ("SUCCESS", "FAILURE"),
        300,
        log,
    )
    assert run_status(url, run_id) == "SUCCESS", failures(url, "training_job")
    nodes = {node["assetKey"]["path"][0]: node for node in graphql(url, KEEP_STATE)["assetNodes"]}
    assert nodes["deployed_model"]["staleStatus"] == "FRESH"
    [gate] = nodes["validation_metrics"]["assetChecksOrError"]["checks"]
    assert gate["executionForLatestMaterialization"] == {"status": "SUCCEEDED", "runId": run_id}
    with asset_group_page(url, "model", "deployed_model") as page:
        # The graph's nodes load their status after their names.
        page.wait_for_load_state("networkidle")
        shown = page.inner_text("body")
        shot = tmp_path / "kept.png"
        page.screenshot(path=str(shot), full_page=True)
    assert "Unsynced" not in shown and "Failed" not in shown, f"see {shot}"


def run_record(url: str, run_id: str) -> dict:
    query = (
        f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status tags {{ key value }} }} }} }}'
    )
    record = graphql(url, query)["runOrError"]
    return {"status": record["status"], "tags": {t["key"]: t["value"] for t in record["tags"]}}


def launch_training_and_wait_for_its_process(url: str, log: Path) -> tuple[str, int]:
    """A training run launched through the API, once it has recorded its process id."""
    run_id = launch_training(url)

    def owned() -> bool:
        record = run_record(url, run_id)
        assert record["status"] not in ("SUCCESS", "FAILURE"), f"ended first: {record}"
        return Owner.from_tags(record["tags"]) is not None

    wait_until("the run to record its process", owned, 300, log)
    owner = Owner.from_tags(run_record(url, run_id)["tags"])
    assert owner is not None
    return run_id, owner.pid


def wait_for_failure(url: str, run_id: str, what: str, log: Path) -> None:
    wait_until(what, lambda: run_record(url, run_id)["status"] == "FAILURE", 180, log)


def test_a_run_whose_process_was_killed_is_launched_again_and_succeeds(live) -> None:
    """Dagster's run retries (dagster.yaml): the run failed as a run, not in a step."""
    _, url, log = live
    run_id, pid = launch_training_and_wait_for_its_process(url, log)
    os.kill(pid, signal.SIGKILL)
    wait_for_failure(url, run_id, "the killed run to be ended", log)

    def retries() -> list[dict]:
        return graphql(
            url,
            f'{{ runsOrError(filter: {{tags: [{{key: "dagster/parent_run_id", '
            f'value: "{run_id}"}}]}}) {{ ... on Runs {{ results {{ runId }} }} }} }}',
        )["runsOrError"]["results"]

    wait_until("the run retry daemon to launch the killed run again", retries, 120, log)
    retry_id = retries()[0]["runId"]
    wait_until(
        "the retried run to end",
        lambda: run_record(url, retry_id)["status"] in ("SUCCESS", "FAILURE"),
        300,
        log,
    )
    assert run_record(url, retry_id)["status"] == "SUCCESS", failures(url, "training_job")


def test_run_monitoring_fails_a_run_whose_processes_were_killed(live) -> None:
    """Runs last in the module: it kills the code server, which dagster dev then restarts."""
    _, url, log = live
    run_id, pid = launch_training_and_wait_for_its_process(url, log)
    # As a reboot or an OOM kill of both would: the code server that started the run
    # goes first, so no one is left to watch the run's process die.
    stat = Path(f"/proc/{pid}/stat").read_text()
    code_server = int(stat[stat.rindex(")") + 2 :].split()[1])
    os.kill(code_server, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_for_failure(url, run_id, "run monitoring to end the killed run", log)
    assert f"process {pid} on host" in failures(url, "training_job")
