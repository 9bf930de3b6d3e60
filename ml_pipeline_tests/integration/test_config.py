from pathlib import Path

import pytest

from ml_pipeline.config import (
    MLFLOW_UI_HOST,
    MLFLOW_UI_PORT,
    ConfigError,
    load_config,
    resolve_config_path,
)
from ml_pipeline_tests.conftest import bike_document, write_config


def config_error(tmp_path: Path, document: object) -> str:
    path = tmp_path / "pipeline.yaml"
    if isinstance(document, str):
        path.write_text(document, encoding="utf-8")
    else:
        write_config(tmp_path, document)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return str(raised.value)


def with_dataset(**changes: object) -> dict:
    document = bike_document()
    document["dataset"].update(changes)
    return document


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "elsewhere", bike_document()))
    assert config.dataset.landing_dir == (tmp_path / "elsewhere" / "landing").resolve()
    assert config.data_dir == (tmp_path / "elsewhere" / "data").resolve()
    assert config.dagster_home == config.data_dir / "dagster_home"


def test_defaults_fill_every_optional_section(tmp_path: Path) -> None:
    minimal = {"dataset": {"landing_dir": "in", "target": "y", "task": "classification"}}
    config = load_config(write_config(tmp_path, minimal))
    assert config.dataset.patterns == ["*.csv"]
    assert config.promotion_metric == "f1_macro"
    assert [c.estimator for c in config.training.candidates] == [
        "linear",
        "random_forest",
        "hist_gradient_boosting",
    ]
    assert config.mlflow_tracking_uri.startswith("sqlite:///")


def test_tracking_uri_from_environment_then_config(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    config = load_config(write_config(tmp_path, bike_document()))
    assert config.mlflow_tracking_uri == "http://127.0.0.1:5999"
    document = bike_document(mlflow={"tracking_uri": "sqlite:////tmp/x.db"})
    assert (
        load_config(write_config(tmp_path, document)).mlflow_tracking_uri == "sqlite:////tmp/x.db"
    )


def test_mlflow_links_go_to_the_ui_address_or_a_tracking_server(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # The embedded store is linked where `ml-pipeline mlflow-ui` serves it by default.
    embedded = load_config(write_config(tmp_path, bike_document())).mlflow_ui_url
    assert embedded == f"http://{MLFLOW_UI_HOST}:{MLFLOW_UI_PORT}"
    served = bike_document(mlflow={"tracking_uri": "http://mlflow.internal:5000/"})
    assert (
        load_config(write_config(tmp_path, served)).mlflow_ui_url == "http://mlflow.internal:5000"
    )
    local_ui = bike_document(mlflow={"ui_url": "http://127.0.0.1:5000"})
    assert load_config(write_config(tmp_path, local_ui)).mlflow_ui_url == "http://127.0.0.1:5000"
    with pytest.raises(ConfigError, match=r"mlflow\.ui_url"):
        load_config(write_config(tmp_path, bike_document(mlflow={"ui_url": "127.0.0.1:5000"})))


def test_config_path_precedence(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path() == tmp_path / "pipeline.yaml"
    monkeypatch.setenv("ML_PIPELINE_CONFIG", str(tmp_path / "env.yaml"))
    assert resolve_config_path() == tmp_path / "env.yaml"
    assert resolve_config_path(tmp_path / "flag.yaml") == tmp_path / "flag.yaml"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    assert "line 2" in config_error(tmp_path, "dataset:\n  target: [unclosed\n")


def test_document_must_be_a_mapping(tmp_path: Path) -> None:
    assert "must hold a mapping" in config_error(tmp_path, "- just\n- a list\n")


def test_unknown_key_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, with_dataset(targett="count"))
    assert "dataset.targett: unknown key" in message


def test_unknown_section_is_named(tmp_path: Path) -> None:
    assert "trainig: unknown key" in config_error(tmp_path, bike_document(trainig={}))


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    document = bike_document()
    del document["dataset"]["target"]
    assert "dataset.target: Field required" in config_error(tmp_path, document)


def test_task_must_be_regression_or_classification(tmp_path: Path) -> None:
    assert "dataset.task" in config_error(tmp_path, with_dataset(task="ranking"))


def test_wrong_type_is_named(tmp_path: Path) -> None:
    document = bike_document()
    document["training"]["sample_rows"] = "many"
    assert "training.sample_rows" in config_error(tmp_path, document)


@pytest.mark.parametrize("pattern", ["*.json", "sub/*.csv"])
def test_file_pattern_must_be_csv_or_parquet_names(tmp_path: Path, pattern: str) -> None:
    assert "dataset.file_pattern" in config_error(tmp_path, with_dataset(file_pattern=pattern))


def test_target_cannot_be_dropped_or_an_id(tmp_path: Path) -> None:
    assert "drop_columns must not contain" in config_error(
        tmp_path, with_dataset(drop_columns=["count"])
    )
    assert "id_columns must not contain" in config_error(
        tmp_path, with_dataset(id_columns=["count"])
    )


def test_timestamp_cannot_be_the_target(tmp_path: Path) -> None:
    assert "timestamp_column must not be the target" in config_error(
        tmp_path, with_dataset(timestamp_column="count")
    )


def test_holdout_fraction_must_be_between_zero_and_one(tmp_path: Path) -> None:
    assert "holdout.fraction" in config_error(tmp_path, bike_document(holdout={"fraction": 1.5}))


def test_outlier_bounds_must_be_ordered(tmp_path: Path) -> None:
    document = bike_document(cleaning={"outliers": {"bounds": {"temp": [50, -30]}}})
    assert "cleaning.outliers.bounds" in config_error(tmp_path, document)


def test_candidates_need_unique_names(tmp_path: Path) -> None:
    document = bike_document()
    document["training"]["candidates"] = [
        {"name": "a", "estimator": "linear"},
        {"name": "a", "estimator": "random_forest"},
    ]
    assert "candidate names must be unique" in config_error(tmp_path, document)


def test_candidates_cannot_be_empty(tmp_path: Path) -> None:
    document = bike_document()
    document["training"]["candidates"] = []
    assert "training.candidates" in config_error(tmp_path, document)


def test_unknown_estimator_is_named(tmp_path: Path) -> None:
    document = bike_document()
    document["training"]["candidates"] = [{"name": "x", "estimator": "svm"}]
    assert "training.candidates.0.estimator" in config_error(tmp_path, document)


def test_search_options_cannot_be_empty(tmp_path: Path) -> None:
    document = bike_document()
    document["training"]["candidates"] = [
        {"name": "x", "estimator": "linear", "search": {"alpha": []}}
    ]
    assert "needs at least one value" in config_error(tmp_path, document)


def test_promotion_metric_must_fit_the_task(tmp_path: Path) -> None:
    document = bike_document(promotion={"metric": "f1_macro"})
    assert "does not apply to task 'regression'" in config_error(tmp_path, document)
    document = bike_document(promotion={"thresholds": {"accuracy": 0.9}})
    assert "does not apply" in config_error(tmp_path, document)


def test_cron_needs_five_fields(tmp_path: Path) -> None:
    document = bike_document(schedule={"retrain_cron": "every day"})
    assert "schedule.retrain_cron" in config_error(tmp_path, document)


def test_registered_model_name_is_restricted(tmp_path: Path) -> None:
    document = bike_document(mlflow={"registered_model": "has space"})
    assert "mlflow.registered_model" in config_error(tmp_path, document)


def test_every_error_is_one_line_naming_the_file(tmp_path: Path) -> None:
    message = config_error(tmp_path, with_dataset(task="x", targett=1))
    lines = message.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(str(tmp_path / "pipeline.yaml")) for line in lines)


def test_serving_defaults_bind_loopback(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, bike_document()))
    assert config.serving.host == "127.0.0.1"
    assert config.predictions_dir == config.data_dir / "predictions"


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("serving", {"port": 70000}, "serving.port"),
        ("serving", {"max_rows": 0}, "serving.max_rows"),
        ("serving", {"log_sample_fraction": 1.5}, "serving.log_sample_fraction"),
        ("serving", {"max_body_mb": 0}, "serving.max_body_mb"),
        ("monitoring", {"cron": "hourly"}, "monitoring.cron"),
        ("monitoring", {"window_hours": -1}, "monitoring.window_hours"),
        ("ingest", {"workers": 0}, "ingest.workers"),
    ],
)
def test_serving_and_monitoring_values_are_checked(
    tmp_path: Path, section: str, values: dict, key: str
) -> None:
    assert key in config_error(tmp_path, bike_document(**{section: values}))


def test_dataset_columns_roles_fold_into_the_role_keys(tmp_path: Path) -> None:
    document = with_dataset(
        columns={
            "count": "numeric",
            "temp": "numeric",
            "shop": {"type": "categorical", "role": "id"},
        }
    )
    config = load_config(write_config(tmp_path, document))
    assert config.dataset.id_columns == ["record_id", "shop"]
    assert config.dataset.columns["temp"].type == "numeric"


def test_a_column_role_contradicting_the_target_is_refused(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        with_dataset(columns={"count": "numeric", "y": {"type": "numeric", "role": "target"}}),
    )
    assert "columns.y.role is 'target' but target is 'count'" in message


def test_declared_columns_must_include_the_target(tmp_path: Path) -> None:
    message = config_error(tmp_path, with_dataset(columns={"temp": "numeric"}))
    assert "columns must list the target 'count' with its type" in message


def test_an_unknown_column_kind_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, with_dataset(columns={"count": "number"}))
    assert "dataset.columns.count.type" in message


def test_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, with_dataset(encoding="latin-9x"))
    assert "dataset.encoding: Value error, unknown text encoding 'latin-9x'" in message


def test_shared_storage_moves_the_bulk_and_keeps_the_contract_local(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, bike_document()))
    assert config.warehouse_dir == config.data_dir / "warehouse"
    assert config.step_outputs_dir is None
    shared = bike_document(storage={"shared": "../mounted/team"})
    config = load_config(write_config(tmp_path / "project", shared))
    team = (tmp_path / "mounted" / "team").resolve()
    assert config.warehouse_dir == team / "warehouse"
    assert config.deploy_dir == team / "deploy"
    assert config.predictions_dir == team / "predictions"
    assert config.step_outputs_dir == team / "step_outputs"
    assert config.contract_path == config.data_dir / "warehouse" / "contract.json"


def test_shared_storage_url_carries_its_options(tmp_path: Path) -> None:
    document = bike_document(
        storage={"shared": "s3://bucket/team", "options": {"endpoint_url": "http://s3.local"}}
    )
    config = load_config(write_config(tmp_path, document))
    assert str(config.warehouse_dir) == "s3://bucket/team/warehouse"
    assert config.warehouse_dir.storage_options["endpoint_url"] == "http://s3.local"


def test_unknown_storage_protocol_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, bike_document(storage={"shared": "s4://bucket/team"}))
    assert "storage.shared" in message and "unknown storage protocol 's4'" in message


def test_credentials_in_storage_options_are_refused(tmp_path: Path) -> None:
    document = bike_document(
        storage={"shared": "s3://bucket/team", "options": {"key": "AKIA", "secret": "x"}}
    )
    message = config_error(tmp_path, document)
    assert "storage.options" in message and "key, secret" in message
    assert "AKIA" not in message


def test_storage_options_without_a_url_are_refused(tmp_path: Path) -> None:
    document = bike_document(storage={"options": {"endpoint_url": "http://s3.local"}})
    assert "options apply to a storage URL" in config_error(tmp_path, document)
