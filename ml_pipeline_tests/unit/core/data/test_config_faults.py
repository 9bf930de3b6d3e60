"""A config mistake is told apart from a bad file before any file is quarantined."""

from pathlib import Path

import pandas as pd

from ml_pipeline.config import load_config
from ml_pipeline.core.data.config_faults import config_faults, preflight
from ml_pipeline.core.data.contract import infer_contract
from ml_pipeline_tests.conftest import bike_document, write_config

HEADER = ["record_id", "timestamp", "station_id", "temp", "casual", "registered", "count"]


def config_with(tmp_path: Path, **dataset):
    # No sensor bounds: these headers carry temp alone.
    document = bike_document(cleaning={})
    document["dataset"].update(dataset)
    return load_config(write_config(tmp_path, document))


def test_a_misspelled_target_names_the_key_and_a_near_match(tmp_path) -> None:
    config = config_with(tmp_path, target="cnt")
    faults = config_faults(config.dataset, config.cleaning, None, [HEADER, HEADER])
    assert faults == [
        "dataset.target: 'cnt' is not a column of the landed files (checked 2) "
        "(did you mean 'count'?)"
    ]


def test_a_wrong_case_id_column_and_a_stray_bound_are_config_faults(tmp_path) -> None:
    config = config_with(tmp_path, id_columns=["Record_ID"])
    document_bounds = config.cleaning.outliers.model_copy(update={"bounds": {"tmp": (0, 1)}})
    config = config.model_copy(
        update={"cleaning": config.cleaning.model_copy(update={"outliers": document_bounds})}
    )
    faults = config_faults(config.dataset, config.cleaning, None, [HEADER])
    assert faults == [
        "dataset.id_columns[0]: 'Record_ID' is not a column of the landed files (checked 1) "
        "(did you mean 'record_id'?)",
        "cleaning.outliers.bounds.tmp: 'tmp' is not a column of the landed files (checked 1) "
        "(did you mean 'temp'?)",
    ]


def test_a_column_one_file_has_is_the_other_files_fault(tmp_path) -> None:
    config = config_with(tmp_path)
    without_target = [c for c in HEADER if c != "count"]
    assert config_faults(config.dataset, config.cleaning, None, [without_target, HEADER]) == []


def test_an_inferred_contract_is_evidence_even_without_files(tmp_path) -> None:
    config = config_with(tmp_path, target="cnt")
    frame = pd.DataFrame({c: ["1"] for c in HEADER})
    contract = infer_contract(frame, config_with(tmp_path).dataset, 0.9, "first.csv")
    [fault] = config_faults(config.dataset, config.cleaning, contract, [])
    assert fault.startswith("dataset.target: 'cnt' is not a column of the contract")


def test_nothing_to_judge_by_reports_nothing(tmp_path) -> None:
    right = config_with(tmp_path, target="cnt")
    assert config_faults(right.dataset, right.cleaning, None, []) == []


def test_a_missing_landing_folder_is_named(tmp_path) -> None:
    config = config_with(tmp_path, landing_dir="nowhere")
    assert preflight(config.dataset, config.cleaning, config.contract_path) == (
        f"dataset.landing_dir: the landing folder {tmp_path / 'nowhere'} does not exist"
    )


def test_preflight_reads_the_landed_headers(tmp_path) -> None:
    config = config_with(tmp_path, target="cnt")
    config.dataset.landing_dir.mkdir()
    (config.dataset.landing_dir / "a.csv").write_text(",".join(HEADER) + "\n1,2,3,4,5,6,7\n")
    assert preflight(config.dataset, config.cleaning, config.contract_path).startswith("dataset.target: 'cnt'")
