"""Steps retry outages, never data errors.

Every job carries :data:`STEP_RETRY_POLICY`: a step that fails because storage, the
MLflow server, the database or the broker was away is tried again in the same run,
with exponential backoff. A step body wrapped in :func:`retry_only_outages` turns any
other error into a ``dg.Failure`` that forbids retries (and forbids them on the
failures it raises itself), so a bad file or a failed training fails once, with its own
message, instead of four times.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import dagster as dg

from ml_pipeline.core import names
from ml_pipeline.core.outages import outage

# Waits of about 1, 2 and 4 seconds: enough for a blip (a dropped connection, a server
# restarting); a lasting outage fails the run, and the landing sensor tries again later.
STEP_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

P = ParamSpec("P")
R = TypeVar("R")


def _message(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _tag_outage(args: tuple, found: str) -> None:
    """Mark the step's run as failed for an outage, so the run list says so and the
    landing sensor tries its file again, should the step's own retries run out."""
    for value in args:
        if isinstance(value, dg.AssetExecutionContext):
            value.instance.add_run_tags(
                value.run_id,
                {names.OUTAGE_TAG: "true", names.OUTAGE_REASON_TAG: found[:200]},
            )
            return


def retry_only_outages(body: Callable[P, R]) -> Callable[P, R]:
    """``body`` whose errors other than outages may not be retried by the step's policy."""

    @contextlib.contextmanager
    def judged(args: tuple) -> Iterator[None]:
        try:
            yield
        except dg.Failure as failure:
            # Raised by the step itself for its input (a quarantined file, a config
            # error); Dagster's default would let the policy retry it.
            failure.allow_retries = False
            raise
        except Exception as error:
            found = outage(error)
            if found is None:
                raise dg.Failure(description=_message(error), allow_retries=False) from error
            _tag_outage(args, found)
            raise

    if inspect.isgeneratorfunction(body):

        @functools.wraps(body)
        def yielding_step(*args: P.args, **kwargs: P.kwargs) -> R:
            with judged(args):
                yield from body(*args, **kwargs)

        return yielding_step

    @functools.wraps(body)
    def step(*args: P.args, **kwargs: P.kwargs) -> R:
        with judged(args):
            return body(*args, **kwargs)

    return step
