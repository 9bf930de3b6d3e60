"""Shadow scoring: every request also scored by a second version, off the hot path.

The deploy folder's ``shadow`` link leads to a candidate awaiting approval or, with
``serving.shadow``, the latest challenger that lost. A child process follows that link
as the service follows ``current``, scores what the service hands it and writes its own
prediction log records (role ``shadow``, the same row ids). A process rather than a
thread: scoring holds the interpreter lock for much of a call, and a second scorer in
the service's process would hold up the champion's requests behind it.

Requests reach the child through a bounded queue. When it is full, the request is not
shadowed: it is dropped and counted, and the champion's answer never waits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_pipeline.core.deploy.deploy_folder import SHADOW_LINK
from ml_pipeline.core.monitor.prediction_log import SHADOW_ROLE, LoggedRequest
from ml_pipeline.core.storage import StoragePath

LOGGER = logging.getLogger(__name__)
# Requests the child scores in one predict call, at most.
BATCH_REQUESTS = 64
# The child's scheduling priority below the service's (docs/benchmarks.md, "Shadow scoring").
SHADOW_NICENESS = 10


@dataclass(frozen=True)
class ShadowSettings:
    deploy_dir: StoragePath
    predictions_dir: StoragePath
    cache_dir: Path | None
    compiled: bool
    id_column: str | None
    poll_seconds: float
    flush_seconds: float


class ShadowScorer:
    """The service's end of the shadow: offer requests, count what was dropped."""

    def __init__(self, settings: ShadowSettings, max_pending: int):
        context = multiprocessing.get_context("spawn")
        self._queue: Any = context.Queue(maxsize=max_pending)
        # Set by the child while it holds a shadow version: until then nothing is sent.
        self._active = context.Value("b", 0, lock=False)
        self._scored = context.Value("q", 0, lock=False)
        self._process = context.Process(
            target=shadow_worker,
            args=(settings, self._queue, self._active, self._scored),
            name="shadow-scorer",
            daemon=True,
        )
        self.dropped = 0

    @property
    def active(self) -> bool:
        return bool(self._active.value)

    @property
    def scored_requests(self) -> int:
        return int(self._scored.value)

    def start(self) -> None:
        self._process.start()

    def offer(self, endpoint: str, count: int, columns: dict[str, list], ids: list[str]) -> bool:
        """Hand one scored request to the shadow; False (and counted) when it is dropped."""
        if not self.active:
            return False
        try:
            self._queue.put_nowait((endpoint, count, columns, ids))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Let the child write what it scored, then end it."""
        if not self._process.is_alive():
            return
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            self._process.terminate()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._queue.cancel_join_thread()


def shadow_worker(settings: ShadowSettings, requests: Any, active: Any, scored: Any) -> None:
    """The child: follow the shadow link, score what arrives, log it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service's Ctrl-C stops it by sentinel
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # When the cores are busy, the champion's requests go first: the shadow falls behind,
    # its queue fills and requests are dropped (counted) rather than answered later.
    os.nice(SHADOW_NICENESS)
    from ml_pipeline.serving.batching import score_batch
    from ml_pipeline.serving.champion import ChampionWatcher
    from ml_pipeline.serving.inputs import RequestError, Rows
    from ml_pipeline.serving.log_writer import PredictionLog
    from ml_pipeline.serving.metrics import ServiceMetrics

    watcher = ChampionWatcher(
        settings.deploy_dir,
        ServiceMetrics(),
        settings.cache_dir,
        settings.compiled,
        settings.id_column,
        link=SHADOW_LINK,
    )
    log = PredictionLog(settings.predictions_dir, settings.flush_seconds)
    log.start()
    checked = 0.0
    try:
        while True:
            if time.monotonic() - checked >= settings.poll_seconds:
                watcher.check()
                active.value = 1 if watcher.model is not None else 0
                checked = time.monotonic()
            try:
                first = requests.get(timeout=settings.poll_seconds)
            except queue.Empty:
                continue
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH_REQUESTS:
                try:
                    item = requests.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    requests.put(None)  # seen again once this batch is logged
                    break
                batch.append(item)
            model = watcher.model
            if model is None:
                continue
            started = time.perf_counter()
            parts = [Rows(count, columns, ids) for _, count, columns, ids in batch]
            results = score_batch(model, parts)
            each_ms = (time.perf_counter() - started) * 1000.0 / len(batch)
            for (endpoint, count, _columns, ids), result in zip(batch, results, strict=True):
                failed = isinstance(result, RequestError)
                log.append(
                    LoggedRequest(
                        time=_now(),
                        endpoint=endpoint,
                        model_version=model.version,
                        status=result.status if failed else 200,
                        rows=count,
                        latency_ms=each_ms,
                        error=result.message if failed else None,
                        role=SHADOW_ROLE,
                        row_ids=None if failed else ids,
                        predictions=None if failed else result.predictions,
                        probabilities=None if failed else result.probabilities,
                    )
                )
            scored.value += len(batch)
    finally:
        active.value = 0
        log.close()


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)
