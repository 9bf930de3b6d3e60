"""Telling an outage from a data error.

An outage is a part the pipeline depends on being away for a while: storage that cannot
be reached or written (a missing bucket, a full or read-only disk), the MLflow server,
the database or the broker. Trying again later can succeed, so steps retry it and the
landing sensor tries the file again. A data error is the same on every try: a file is
quarantined, a training fails with its reason, and neither is retried.

Classes of optional libraries (botocore, SQLAlchemy, kombu, urllib3) are recognised by
name, so this module imports none of them.
"""

from __future__ import annotations

import errno

OUTAGE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.ENOSPC,
        errno.EROFS,
        errno.EIO,
        errno.ESTALE,
        errno.EACCES,
        errno.EPERM,
    }
)
OUTAGE_CLASS_NAMES = frozenset(
    {
        "ConnectionError",  # requests' and botocore's own, which are not the builtin
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectTimeout",
        "ReadTimeout",
        "MaxRetryError",
        "NewConnectionError",
        "NoSuchBucket",
        "OperationalError",
        "InterfaceError",
        "ServiceUnavailable",
        "SlowDown",
    }
)
# MLflow's REST client words for a server that did not answer.
MLFLOW_UNREACHABLE = ("API request to", "Max retries exceeded", "Connection refused")


def _chain(error: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def one_line(error: BaseException) -> str:
    """An error as one line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


def outage(error: BaseException) -> str | None:
    """A one-line account of the outage behind ``error`` (or any error it was raised
    from), or None when it is not one."""
    for link in _chain(error):
        name = type(link).__name__
        message = str(link)
        if isinstance(link, ConnectionError | TimeoutError) or name in OUTAGE_CLASS_NAMES:
            return f"unreachable: {one_line(link)}"
        if isinstance(link, FileNotFoundError) and "bucket" in message.lower():
            return f"missing bucket: {one_line(link)}"
        if isinstance(link, OSError) and link.errno in OUTAGE_ERRNOS:
            return f"storage unavailable: {one_line(link)}"
        if name == "MlflowException" and any(words in message for words in MLFLOW_UNREACHABLE):
            return f"MLflow server unreachable: {one_line(link)}"
    return None
