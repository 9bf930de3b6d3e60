"""Notifications from Dagster's run-status sensors, to a real local HTTP receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from ml_pipeline.commands.execution import ingest_landed_files
from ml_pipeline.commands.summary import RunSummary
from ml_pipeline.config import load_config
from ml_pipeline.definitions import build_definitions
from ml_pipeline.defs.notifications import (
    build_notification_sensors,
    decision_notice,
    drift_notice,
    failure_notice,
    orphan_notice,
)
from ml_pipeline_tests.conftest import bike_document, land_demo_bikes, write_config

RECEIVED: list[dict] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        RECEIVED.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def hook_url():
    RECEIVED.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_no_notify_section_means_no_notification_sensor(tmp_path) -> None:
    config = load_config(write_config(tmp_path, bike_document()))
    assert build_notification_sensors(config) == []
    names = {s.name for s in build_definitions(config).sensors}
    assert "failure_notifier" not in names


def test_a_quarantined_file_reaches_the_webhook_from_the_failure_sensor(tmp_path, hook_url) -> None:
    config = land_demo_bikes(
        load_config(write_config(tmp_path, bike_document(notify=[{"url": hook_url}])))
    )
    (config.dataset.landing_dir / "broken.csv").write_bytes(b"")
    sensors = {sensor.name: sensor for sensor in build_notification_sensors(config)}
    failure_sensor = sensors["failure_notifier"]
    with dg.instance_for_test() as instance:
        summary = RunSummary()
        ingest_landed_files(config, instance, summary, reingest=False)
        assert "broken" in summary.failed
        [run] = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        [event] = [
            record.event_log_entry.dagster_event
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
            ).records
        ]
        context = dg.build_run_status_sensor_context(
            sensor_name=failure_sensor.name,
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=event,
        ).for_run_failure()
        failure_sensor(context)
    [body] = RECEIVED
    assert body["event"] == "file_quarantined" and body["fields"]["partition"] == "broken"
    assert "quarantined to" in body["text"]
    [delivery] = [json.loads(line) for line in config.deliveries_path.read_text().splitlines()]
    assert delivery["delivered"] and delivery["attempts"][0]["status"] == 204


def test_what_a_training_decided_becomes_one_notice() -> None:
    promoted = decision_notice({"promoted": True, "champion_version": "3", "reason": "r"}, "id")
    assert (promoted.event, promoted.title) == ("promoted", "version 3 is the new champion")
    kept = decision_notice({"promoted": False, "champion_version": "3", "reason": "r"}, "id")
    assert kept.event == "kept"
    waiting = decision_notice(
        {"promoted": False, "awaiting_approval": "4", "champion_version": "3"}, "id"
    )
    assert waiting.event == "awaiting_approval" and waiting.fields["candidate"] == "4"
    assert decision_notice({}, "id") is None


def test_an_outage_is_news_only_when_its_last_try_failed() -> None:
    def outage(retry: str | None) -> dg.DagsterRun:
        tags = {"ml_pipeline/outage": "true", "dagster/partition": "p1"}
        return dg.DagsterRun(
            job_name="ingest_job", tags={**tags, **({"ml_pipeline/retry": retry} if retry else {})}
        )

    assert failure_notice("ingest_job", outage(None), "disk away", tries=3) is None
    assert failure_notice("ingest_job", outage("try 2 of 3 after x"), "away", tries=3) is None
    given_up = failure_notice("ingest_job", outage("try 3 of 3 after x"), "away", tries=3)
    assert given_up.event == "file_given_up" and "backfill --partitions p1" in given_up.text
    assert failure_notice("ingest_job", outage(None), "away", tries=1).event == "file_given_up"


def test_drift_past_the_threshold_and_ended_orphans_are_notices() -> None:
    assert drift_notice("p", {"drift_score": 0.2}, 0.25) is None
    assert drift_notice("p", {"drift_score": 0.4}, None) is None
    assert drift_notice("p", {}, 0.25) is None
    drifted = drift_notice("p", {"drift_score": 0.4}, 0.25)
    assert drifted.event == "drift" and drifted.title == "partition p drifted: 0.400 above 0.25"
    assert orphan_notice([]) is None
    assert orphan_notice(["run a ended", "run b ended"]).title == "2 orphaned run(s) ended"


def test_an_outage_is_not_a_quarantine_and_a_training_failure_always_tells() -> None:
    outage = dg.DagsterRun(
        job_name="ingest_job",
        tags={"ml_pipeline/outage": "true", "ml_pipeline/retry": "try 1 of 3"},
    )
    assert failure_notice("ingest_job", outage, "x (quarantined to y)", tries=3) is None
    plain = dg.DagsterRun(job_name="ingest_job")
    assert failure_notice("ingest_job", plain, "storage is away") is None
    training = dg.DagsterRun(job_name="training_job")
    assert failure_notice("training_job", training, "boom").event == "training_failed"


def test_doctor_names_an_unset_url_variable_and_undelivered_notices(tmp_path) -> None:
    from ml_pipeline.commands.doctor import examine
    from ml_pipeline.core.notify import Notice, send

    hooks = [{"url": "https://hooks.example/${ML_PIPELINE_TEST_UNSET_HOOK}"}]
    config = load_config(write_config(tmp_path, bike_document(notify=hooks)))
    (tmp_path / "landing").mkdir(exist_ok=True)
    send(config.notify, Notice("promoted", "v1", ""), config.deliveries_path)
    [finding] = [f for f in examine(config, fix=False) if f.check == "notifications"]
    assert not finding.ok
    assert "notify[0].url: environment variable ML_PIPELINE_TEST_UNSET_HOOK" in finding.detail
    assert "1 of 1 notice(s) of the last day not delivered" in finding.detail


def test_every_drifted_partition_of_a_wave_is_told_not_only_the_last(tmp_path, hook_url) -> None:
    document = bike_document(notify=[{"url": hook_url}], retraining={"drift_threshold": 0.25})
    config = load_config(write_config(tmp_path, document))
    sensors = {sensor.name: sensor for sensor in build_notification_sensors(config)}
    drift = sensors["drift_notifier"]
    with dg.instance_for_test() as instance:
        first = drift(dg.build_sensor_context(instance=instance))
        assert isinstance(first, dg.SkipReason) and not RECEIVED
        context = dg.build_sensor_context(instance=instance, cursor="0")
        for key, score in (("a", 0.4), ("b", 0.1), ("c", 0.9)):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key="cleaned_data", partition=key, metadata={"drift_score": score}
                )
            )
        drift(context)
        assert [body["fields"]["partition"] for body in RECEIVED] == ["a", "c"]
        again = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        drift(again)
        assert len(RECEIVED) == 2, "each materialization is told once"


def test_a_measured_decay_reaches_the_webhook_once(tmp_path, hook_url) -> None:
    config = load_config(write_config(tmp_path, bike_document(notify=[{"url": hook_url}])))
    sensors = {sensor.name: sensor for sensor in build_notification_sensors(config)}
    decay = sensors["decay_notifier"]
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor="0")
        for key, metadata in (
            ("steady", {"model_version": "3", "decay_check": "no decay: ..."}),
            ("worse", {"model_version": "3", "decay": 0.31, "decay_check": "decayed: ..."}),
        ):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key="champion_performance", partition=key, metadata=metadata
                )
            )
        decay(context)
        decay(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    [body] = RECEIVED
    assert body["event"] == "decay" and body["fields"]["partition"] == "worse"
    assert body["fields"]["model_version"] == "3" and "+31.0% worse" in body["title"]


def test_served_decay_and_skew_reach_the_webhook_from_prediction_monitoring(
    tmp_path, hook_url
) -> None:
    config = load_config(write_config(tmp_path, bike_document(notify=[{"url": hook_url}])))
    sensors = {sensor.name: sensor for sensor in build_notification_sensors(config)}
    with dg.instance_for_test() as instance:
        for metadata in (
            {"model_version": "2", "served_decay_check": "no decay: ...", "feature_skew": "none"},
            {
                "model_version": "2",
                "decay": 0.25,
                "served_decay_check": "decayed: rmse on served rows",
                "skewed_features": "hour_sin",
                "feature_skew": "1 feature(s) differ ...: hour_sin",
            },
        ):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="prediction_monitoring", metadata=metadata)
            )
        for name in ("served_decay_notifier", "skew_notifier"):
            sensors[name](dg.build_sensor_context(instance=instance, cursor="0"))
    decayed, skewed = RECEIVED
    assert decayed["event"] == "decay" and "+25.0% worse" in decayed["title"]
    assert decayed["text"] == "decayed: rmse on served rows"
    assert skewed["event"] == "skew" and skewed["fields"]["features"] == "hour_sin"
