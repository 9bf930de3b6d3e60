"""Outages are told from data errors by the error and what it was raised from."""

import errno

import pytest

from ml_pipeline.core.data.intake import LandingFileError
from ml_pipeline.core.outages import outage


class EndpointConnectionError(Exception):
    """Named as botocore names an unreachable S3 endpoint."""


class OperationalError(Exception):
    """Named as SQLAlchemy and kombu name a database or broker that is down."""


class MlflowException(Exception):
    """Named as MLflow names its REST client's errors."""


def raised_from(cause: BaseException) -> ValueError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise ValueError("writing the partition failed") from inner
    except ValueError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "unreachable"),
        (TimeoutError("timed out"), "unreachable"),
        (FileNotFoundError("The specified bucket does not exist"), "missing bucket"),
        (PermissionError(errno.EACCES, "Permission denied"), "storage unavailable"),
        (OSError(errno.ENOSPC, "No space left on device"), "storage unavailable"),
        (OSError(errno.EROFS, "Read-only file system"), "storage unavailable"),
        (EndpointConnectionError("Could not connect to the endpoint URL"), "unreachable"),
        (OperationalError("could not connect to server: Connection refused"), "unreachable"),
        (
            MlflowException("API request to http://mlflow:5000/api failed with ConnectionError"),
            "MLflow server unreachable",
        ),
        (raised_from(ConnectionResetError(errno.ECONNRESET, "reset")), "unreachable"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_an_outage_is_named_in_one_line(error, words) -> None:
    found = outage(error)
    assert found is not None and found.startswith(words) and "\n" not in found


@pytest.mark.parametrize(
    "error",
    [
        ValueError("none of the 6 feature partitions conforms"),
        LandingFileError("a.csv: empty file (0 bytes)"),
        FileNotFoundError("partition 'a': no file matching ['*.csv'] in landing"),
        MlflowException("RESOURCE_DOES_NOT_EXIST: Registered Model not found"),
        KeyError("temp"),
        raised_from(ValueError("Input X contains NaN")),
    ],
    ids=lambda value: type(value).__name__,
)
def test_a_data_error_is_no_outage(error) -> None:
    assert outage(error) is None
