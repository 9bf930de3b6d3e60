import dagster as dg

from ml_pipeline.config import load_config
from ml_pipeline.definitions import build_definitions, defs
from ml_pipeline_tests.conftest import bike_document, write_config

EXPECTED_ASSETS = {
    "raw_samples",
    "cleaned_data",
    "features",
    "data_profile",
    "trained_model",
    "validation_metrics",
    "deployed_model",
    "champion_performance",
    "prediction_monitoring",
    "batch_predictions",
}


def test_definitions_load_from_the_configured_file(tmp_path, monkeypatch) -> None:
    document = bike_document(
        schedule={"retrain_cron": "15 4 * * 1"}, monitoring={"cron": "*/20 * * * *"}
    )
    path = write_config(tmp_path, document)
    monkeypatch.setenv("ML_PIPELINE_CONFIG", str(path))
    loaded = defs()
    graph = loaded.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    assert loaded.resolve_schedule_def("retrain_schedule").cron_schedule == "15 4 * * 1"
    monitoring = loaded.resolve_schedule_def("monitoring_schedule")
    assert monitoring.cron_schedule == "*/20 * * * *"
    assert monitoring.default_status == dg.DefaultScheduleStatus.RUNNING
    for name in ("landing_sensor", "retrain_sensor", "scoring_sensor"):
        sensor = loaded.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    jobs = {job.name: job for job in loaded.resolve_all_job_defs()}
    assert set(jobs) >= {
        "ingest_job",
        "training_job",
        "monitoring_job",
        "scoring_job",
        "__ASSET_JOB",
    }
    for job in jobs.values():
        assert job.executor_def.name == "in_process", job.name


def test_every_asset_has_a_description_and_group(tmp_path) -> None:
    definitions = build_definitions(load_config(write_config(tmp_path, bike_document())))
    for assets_def in definitions.resolve_asset_graph().assets_defs:
        for key in assets_def.keys:
            assert assets_def.descriptions_by_key.get(key), key
            assert assets_def.group_names_by_key[key] in {
                "ingest",
                "explore",
                "model",
                "monitoring",
                "scoring",
            }, key


def test_the_lineage_graph_draws_scoring_and_monitoring_from_the_champion(tmp_path) -> None:
    definitions = build_definitions(load_config(write_config(tmp_path, bike_document())))
    graph = definitions.resolve_asset_graph()
    for downstream in ("batch_predictions", "prediction_monitoring"):
        parents = graph.get(dg.AssetKey(downstream)).parent_keys
        assert dg.AssetKey("deployed_model") in parents, downstream
