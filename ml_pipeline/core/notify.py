"""Telling people: a notice posted to webhooks, retried with backoff, every attempt
recorded. Sending never raises into a run: what failed is in the record and the
caller's log."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml_pipeline.config import WebhookConfig

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Notice:
    event: str  # one of config.NotifyEvent
    title: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


@dataclass(frozen=True)
class Attempt:
    at: str
    status: int | None  # the HTTP status; None when no answer came
    error: str | None  # why the attempt failed; None when it was delivered
    seconds: float


def payload(notice: Notice, shape: str) -> dict[str, object]:
    """The body for a webhook of ``shape`` "json" (every field) or "slack" (its text)."""
    if shape == "slack":
        lines = [f"*{notice.title}*", notice.text]
        lines += [f"{key}: {value}" for key, value in notice.fields.items()]
        return {"text": "\n".join(line for line in lines if line)}
    return {"source": "ml_pipeline", **asdict(notice)}


def expand(url: str) -> str:
    """``url`` with each ``${NAME}`` read from the environment; ValueError naming the
    variable when one is not set."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} (in a notify URL) is not set")
        return os.environ[name]

    return _PLACEHOLDER.sub(value, url)


def _post(url: str, body: bytes, timeout: float) -> int:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def deliver(
    url: str,
    body: dict[str, object],
    attempts: int,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Attempt]:
    """POST ``body`` until a 2xx answer or ``attempts`` tries, waiting 1, 2, 4... s
    (at most 30) between them; every try is returned."""
    data = json.dumps(body, default=str).encode()
    tried: list[Attempt] = []
    for number in range(attempts):
        if number:
            sleep(min(2 ** (number - 1), 30))
        started = time.monotonic()
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        status, error = None, None
        try:
            status = _post(url, data, timeout)
        except urllib.error.HTTPError as failure:
            status, error = failure.code, f"HTTP {failure.code}"
        except (urllib.error.URLError, OSError) as failure:
            error = str(getattr(failure, "reason", failure))
        tried.append(Attempt(at, status, error, round(time.monotonic() - started, 3)))
        if error is None:
            break
    return tried


def record(path: Path, entry: dict[str, object]) -> None:
    """Append one delivery to the record (one JSON line; a lock keeps lines whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(json.dumps(entry, default=str) + "\n")


def send(
    webhooks: list[WebhookConfig],
    notice: Notice,
    record_path: Path,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Post ``notice`` to every webhook subscribed to its event and record each delivery;
    returns a line per webhook that did not take it, for the caller's log."""
    problems = []
    for index, hook in enumerate(webhooks):
        if notice.event not in hook.events:
            continue
        try:
            tried = deliver(
                expand(hook.url),
                payload(notice, hook.format),
                hook.attempts,
                hook.timeout_seconds,
                sleep,
            )
        except ValueError as error:
            tried = [Attempt(notice.at, None, str(error), 0.0)]
        delivered = tried[-1].error is None
        record(
            record_path,
            {
                "event": notice.event,
                "notice_at": notice.at,
                "webhook": f"notify[{index}]",
                "delivered": delivered,
                "attempts": [asdict(attempt) for attempt in tried],
            },
        )
        if not delivered:
            problems.append(
                f"notify[{index}]: {notice.event} not delivered after {len(tried)} "
                f"attempt(s): {tried[-1].error}"
            )
    return problems
