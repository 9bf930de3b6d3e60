"""The user's own error inside Dagster's wrappers, told in one line.

A failed step reaches us as a chain, outermost first: Dagster's "error occurred while
executing op" wrappers, then what our code raised (which names the file or field), then
whatever that was raised from. Runs executed in process and runs read back through the
GraphQL API give the same chain in two shapes; both are reduced here the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

# How Dagster prints a step's ``Failure``; its description follows.
FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "


def cause_line(chain: Iterable[tuple[str | None, str]]) -> str:
    """First line of the first link (class name, message) not raised by Dagster itself,
    or of the last link when every one was.

    A ``Failure`` raised from another error is the step wrapper's (``retries``), which
    only forbids retrying it: the error it was raised from is told instead. A ``Failure``
    a step raised itself is told by its description.
    """
    links = list(chain)
    told = ""
    for index, (class_name, message) in enumerate(links):
        told = message
        wrapper = class_name == "Failure" and index + 1 < len(links)
        if not (class_name or "").startswith("Dagster") and not wrapper:
            break
    lines = told.strip().removeprefix(FAILURE_PREFIX).splitlines()
    return lines[0] if lines else "no message"
