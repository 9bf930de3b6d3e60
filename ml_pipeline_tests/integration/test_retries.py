"""The step wrapper: the retry policy may retry outages, and nothing else."""

import dagster as dg
import pytest

from ml_pipeline.defs.jobs import ingest_job, monitoring_job, scoring_job, training_job
from ml_pipeline.defs.retries import STEP_RETRY_POLICY, retry_only_outages


@retry_only_outages
def step(error: Exception) -> str:
    raise error


@retry_only_outages
def yielding_step(error: Exception):
    yield "first output"
    raise error


def test_a_data_error_becomes_a_failure_that_forbids_retries() -> None:
    with pytest.raises(dg.Failure) as raised:
        step(ValueError("no feature partitions to train on\nsecond line"))
    assert raised.value.allow_retries is False
    assert raised.value.description == "no feature partitions to train on"
    assert isinstance(raised.value.__cause__, ValueError)


def test_a_failure_the_step_raises_itself_is_never_retried() -> None:
    with pytest.raises(dg.Failure) as raised:
        step(dg.Failure("a.csv: empty file (quarantined to q/a.csv)"))
    assert raised.value.allow_retries is False


def test_an_outage_goes_through_for_the_policy_to_retry() -> None:
    with pytest.raises(ConnectionRefusedError):
        step(ConnectionRefusedError(111, "Connection refused"))


def test_a_generator_step_is_judged_while_it_yields() -> None:
    outputs = yielding_step(ValueError("bad"))
    assert next(outputs) == "first output"
    with pytest.raises(dg.Failure) as raised:
        next(outputs)
    assert raised.value.allow_retries is False


@pytest.mark.parametrize("job", [ingest_job, training_job, monitoring_job, scoring_job])
def test_every_job_carries_the_retry_policy(job) -> None:
    assert job.op_retry_policy == STEP_RETRY_POLICY
