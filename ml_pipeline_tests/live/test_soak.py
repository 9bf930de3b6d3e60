"""A short soak (``soak.py``): forty files land three seconds apart under a real
`dagster dev` with its sensors, among them odd files, a storage outage and two SIGKILLs
of executing runs; at the end nothing is lost, stuck or reported unhealthy."""

import json
from dataclasses import asdict

import pytest

from ml_pipeline_tests.soak import Plan, can_make_immutable, soak

pytestmark = [pytest.mark.slow, pytest.mark.live]

SHORT = Plan(
    files=40,
    every_seconds=3.0,
    odd={
        5: "infinities",
        9: "empty file",
        14: "repeated header",
        17: "one row",
        24: "semicolons",
        27: "BOM and CRLF",
        35: "text in a number column",
    },
    outages=((12, 4),),
    kills=(20, 31),
    retrain_every=20,
)


def test_a_compressed_month_of_files_with_faults_ends_clean(tmp_path) -> None:
    refusal = can_make_immutable(tmp_path / "probe")
    if refusal is not None:
        pytest.skip(refusal)
    report = soak(tmp_path / "project", SHORT)
    print(json.dumps(asdict(report)))
    assert report.files_landed == SHORT.files
    assert report.unaccounted == []
    assert report.quarantined >= 2  # the empty file and the repeated header at least
    assert report.rows_lost == 0 and report.rows_ingested > 0
    assert report.active_runs == [] and report.mlflow_running == 0
    assert report.champion is not None and report.deployed
    assert report.doctor_problems == []
