"""The lifecycle property, fuzzed: land good files beside mutated ones and run the pipeline.

Then every landed file was ingested or quarantined with a one-line reason, no landed
byte was lost, a champion exists (the good files alone give one, checked first), and
the deployed model scores the good files' rows as ``read_csv`` gives them. The odd files
never relabel their rows with other real values (a file whose labels are all 5 is news
about the target, not a fault; the ingest fuzz lands those too): their targets are only
ever made gaps or non-finite.
"""

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_pipeline.commands.execution import run_pipeline
from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.data.landing import partition_key_for
from ml_pipeline_tests.conftest import bike_document, write_config
from ml_pipeline_tests.mutations import examples, good_batch, landed_files

pytestmark = pytest.mark.slow

GOOD_FILES = 5
ROWS = 96


# The good files are the newest days, so the holdout (the latest fifth) is theirs and
# the odd files, of earlier days, meet training.
FIRST_GOOD_DAY = 50


def good_files() -> dict[str, bytes]:
    return {
        f"bikes_{index}.csv": good_batch(index, ROWS).to_csv(index=False).encode()
        for index in range(FIRST_GOOD_DAY, FIRST_GOOD_DAY + GOOD_FILES)
    }


@contextlib.contextmanager
def project(files: dict[str, bytes]) -> Iterator[tuple[PipelineConfig, dg.DagsterInstance]]:
    """A fresh project with ``files`` landed in order (good ones first, as the contract is
    learned from the first file), and its ephemeral Dagster instance."""
    with tempfile.TemporaryDirectory() as scratch:
        config = load_config(write_config(Path(scratch), bike_document()))
        landing = config.dataset.landing_dir
        landing.mkdir(parents=True)
        for index, (name, data) in enumerate(files.items()):
            (landing / name).write_bytes(data)
            stamp = 1_700_000_000 + index
            os.utime(landing / name, (stamp, stamp))
        with dg.DagsterInstance.ephemeral(tempdir=str(Path(scratch) / "instance")) as instance:
            yield config, instance


def scores_good_rows(artifact_path: str) -> None:
    model = mlflow.pyfunc.load_model(artifact_path)
    for name, data in good_files().items():
        rows = pd.read_csv(io.BytesIO(data))
        predicted = np.asarray(model.predict(rows.drop(columns=["count"])), dtype="float64")
        assert len(predicted) == len(rows) and np.isfinite(predicted).all(), name


def test_the_good_files_alone_give_a_champion() -> None:
    with project(good_files()) as (config, instance):
        summary = run_pipeline(config, instance)
        assert summary.error is None, summary.error
        assert summary.champion is not None and summary.champion.version == "1"
        scores_good_rows(summary.artifact_path)


ODD_DAYS = st.lists(st.integers(10, FIRST_GOOD_DAY - 1), min_size=1, max_size=3, unique=True)


@examples(fast=2, deep=40)
@given(
    odd=ODD_DAYS.flatmap(
        lambda days: st.tuples(*(landed_files(index=day, relabel=False) for day in days))
    )
)
def test_odd_files_beside_good_ones_never_stop_the_lifecycle(odd) -> None:
    files = good_files()
    files.update({name: data for name, data, _ in odd})
    with project(files) as (config, instance):
        summary = run_pipeline(config, instance)
        assert summary.error is None, summary.error

        ingested = set(summary.ingested)
        for name, data in files.items():
            key = partition_key_for(name)
            landed = config.dataset.landing_dir / name
            if key in summary.failed:
                reason = summary.failed[key]
                assert "\n" not in reason and "quarantined to" in reason, reason
                assert (config.quarantine_dir / name).read_bytes() == data
                text = (config.quarantine_dir / f"{name}.reason.txt").read_text()
                assert text.count("reason: ") == 1
            else:
                assert key in ingested, (name, summary.failed)
                assert landed.read_bytes() == data

        assert summary.champion is not None and summary.champion.version == "1", (
            summary.validation and summary.validation.decision
        )
        scores_good_rows(summary.artifact_path)
