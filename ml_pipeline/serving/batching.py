"""Concurrent requests scored together: one predict call for whatever has queued up.

A scikit-learn pipeline spends most of a one-row prediction on fixed per-call
work (column checks, transformer dispatch), so eight rows cost little more than
one. While one predict call runs in the worker thread, new requests queue, and
the next call takes them all at once. Under concurrent load the batcher also
lingers a few milliseconds for stragglers: clients answered by the previous
call send their next request just after the next call would otherwise start,
and would split the load into half-size batches. A lone client never waits.
Requests
are only ever grouped with others validated against the same model object, so
a request that arrived before a swap is scored by the model it was checked
against.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ml_pipeline.serving.inputs import RequestError, Rows
from ml_pipeline.serving.model import Scored, ServedModel

# What a scikit-learn estimator raises for rows it cannot score.
MODEL_INPUT_ERRORS = (ValueError, TypeError, KeyError)


@dataclass
class _Pending:
    model: ServedModel
    rows: Rows
    future: asyncio.Future[Scored]


def _slice(scored: Scored, start: int, stop: int) -> Scored:
    probabilities = scored.probabilities[start:stop] if scored.probabilities is not None else None
    features = scored.features[start:stop] if scored.features is not None else None
    return Scored(scored.predictions[start:stop], probabilities, features)


def _score_one(model: ServedModel, rows: Rows) -> Scored | RequestError:
    try:
        return model.score(rows)
    except MODEL_INPUT_ERRORS as error:
        return RequestError(422, f"the model could not score these rows: {error}")


def score_batch(model: ServedModel, parts: list[Rows]) -> list[Scored | RequestError]:
    """Score all parts in one call; if that fails, each alone, so one bad request fails alone."""
    if len(parts) == 1:
        return [_score_one(model, parts[0])]
    try:
        scored = model.score(Rows.join(parts))
    except MODEL_INPUT_ERRORS:
        return [_score_one(model, part) for part in parts]
    results: list[Scored | RequestError] = []
    start = 0
    for part in parts:
        results.append(_slice(scored, start, start + part.count))
        start += part.count
    return results


def _one_native_thread() -> None:
    """Run the worker's OpenMP/BLAS code on one thread.

    Small batches dominate; measured on 2 cores, the default thread pool doubled a
    4-row HistGradientBoosting call (14 ms against 7 ms) and left no core for the
    event loop that parses the next requests.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


class MicroBatcher:
    def __init__(
        self,
        max_rows: int,
        wait_seconds: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.max_rows = max_rows
        self.wait_seconds = wait_seconds
        self._last_batch_requests = 0
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._held: _Pending | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="predict", initializer=_one_native_thread
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def score(self, model: ServedModel, rows: Rows) -> Scored:
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(model, rows, future))
        return await future

    def _next_batch(self, first: _Pending) -> list[_Pending]:
        batch, rows = [first], first.rows.count
        while not self._queue.empty():
            candidate = self._queue.get_nowait()
            if candidate.model is not first.model or rows + candidate.rows.count > self.max_rows:
                self._held = candidate
                break
            batch.append(candidate)
            rows += candidate.rows.count
        return [pending for pending in batch if not pending.future.done()]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first, self._held = self._held or await self._queue.get(), None
            concurrent = self._last_batch_requests > 1 or not self._queue.empty()
            if self.wait_seconds and concurrent:
                await asyncio.sleep(self.wait_seconds)
            batch = self._next_batch(first)
            self._last_batch_requests = len(batch)
            if not batch:
                continue
            parts = [pending.rows for pending in batch]
            try:
                results = await loop.run_in_executor(
                    self._executor, score_batch, first.model, parts
                )
            except Exception as error:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                continue
            if self._on_batch is not None:
                self._on_batch(sum(part.count for part in parts))
            for pending, result in zip(batch, results, strict=True):
                if pending.future.done():
                    continue
                if isinstance(result, RequestError):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)
