"""The user's own error inside Dagster's wrappers, told in one line.

A failed step reaches us as a chain, outermost first: Dagster's "error occurred while
executing op" wrappers, then what our code raised (which names the file or field), then
whatever that was raised from. Runs executed in process and runs read back through the
GraphQL API give the same chain in two shapes; both are reduced here the same way.
"""

from __future__ import annotations

from collections.abc import Iterable


def cause_line(chain: Iterable[tuple[str | None, str]]) -> str:
    """First line of the first link (class name, message) not raised by Dagster itself,
    or of the last link when every one was."""
    told = ""
    for class_name, message in chain:
        told = message
        if not (class_name or "").startswith("Dagster"):
            break
    lines = told.strip().splitlines()
    return lines[0] if lines else "no message"
