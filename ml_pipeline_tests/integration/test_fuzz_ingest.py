"""Fuzzing the way in: any mutated landed file is refused in one line or becomes a
model-ready partition whose numbers are all finite.

The steps are the ingest assets' own (read, hold to the contract, clean, derive the
features, write Parquet), called directly, so hundreds of files take seconds. The
pipeline-level property, with Dagster and training, is in ``test_fuzz_pipeline.py``.
"""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.contract import infer_contract
from ml_pipeline.core.data.feature_table import build_feature_table
from ml_pipeline.core.data.intake import LandingFileError, conform_to_contract, read_landed_file
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.mutations import examples, good_batch, landed_files


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[PipelineConfig, object, Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    config = load_config(write_config(folder, bike_document()))
    threshold = config.cleaning.numeric_parse_threshold
    contract = infer_contract(good_batch(0), config.dataset, threshold, "good batch")
    return config, contract, folder


def ingest(path: Path, config: PipelineConfig, contract) -> pd.DataFrame:
    """The ingest assets' steps on one file: the feature table it would store."""
    dataset, threshold = config.dataset, config.cleaning.numeric_parse_threshold
    intake = conform_to_contract(path, read_landed_file(path, dataset), contract, threshold)
    intake.frame.to_parquet(io.BytesIO(), index=False)
    cleaned, _ = clean_batch(intake.frame, dataset, config.cleaning, contract.kinds())
    cleaned.to_parquet(io.BytesIO(), index=False)
    table = build_feature_table(
        cleaned, dataset.target, dataset.timestamp_column, dataset.ignored_columns
    )
    table.to_parquet(io.BytesIO(), index=False)
    return table


@examples(fast=150, deep=3000)
@given(landed=landed_files(index=1))
def test_any_landed_file_is_refused_in_one_line_or_ingested_finite(project, landed) -> None:
    config, contract, folder = project
    name, data, _ = landed
    path = folder / name
    path.write_bytes(data)
    try:
        table = ingest(path, config, contract)
    except LandingFileError as error:
        message = str(error)
        assert message.startswith(f"{name}: ") and "\n" not in message
        return
    numbers = table.select_dtypes(include="number").to_numpy(dtype="float64")
    assert np.isfinite(numbers[~np.isnan(numbers)]).all()
    assert table[config.dataset.target].notna().all()
    assert list(table.columns[: len(contract.inputs())]) == contract.inputs()
