"""The scoring service's prediction log writer: requests never wait for the disk.

Requests hand records to a queue and move on; a thread writes what has queued up as
one file every few seconds (the format is ``ml_pipeline.core.monitor.prediction_log``).
Between files the thread encodes queued records in small slices: encoding a few
seconds' worth at once kept the interpreter from the requests long enough to show in
the service's p99 (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from ml_pipeline.core.monitor.prediction_log import LoggedRequest, write_rows
from ml_pipeline.core.storage import StoragePath

LOGGER = logging.getLogger(__name__)
# How often the writer encodes what has queued since it last looked.
ENCODE_SECONDS = 0.1


class PredictionLog:
    """Appends never block: records queue up and a writer thread flushes them."""

    def __init__(
        self,
        folder: StoragePath,
        flush_seconds: float,
        max_pending: int = 200_000,
        on_drop: Any = None,
    ):
        self.folder = folder
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._on_drop = on_drop
        self._queue: queue.SimpleQueue[LoggedRequest] = queue.SimpleQueue()
        self._rows: list[dict[str, Any]] = []  # encoded, not yet written
        self._rows_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.write_errors = 0
        self.last_error: str | None = None

    def append(self, record: LoggedRequest) -> None:
        if self._queue.qsize() + len(self._rows) >= self.max_pending:
            # The disk cannot keep up; shedding log records beats slowing scoring down.
            if self._on_drop is not None:
                self._on_drop()
            return
        self._queue.put_nowait(record)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the writer and write whatever is still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _encode_queued(self) -> None:
        with self._rows_lock:
            while True:
                try:
                    self._rows.append(self._queue.get_nowait().as_row())
                except queue.Empty:
                    return

    def flush(self) -> StoragePath | None:
        """Write what has queued as one file. Rows whose write fails stay pending, ahead
        of newer ones, so the next flush writes them once the storage is back; they
        count towards ``max_pending`` meanwhile."""
        self._encode_queued()
        with self._rows_lock:
            rows, self._rows = self._rows, []
        try:
            return write_rows(rows, self.folder)
        except BaseException:
            with self._rows_lock:
                self._rows[:0] = rows
            raise

    def _run(self) -> None:
        due = time.monotonic() + self.flush_seconds
        while not self._stop.wait(min(ENCODE_SECONDS, self.flush_seconds)):
            try:
                if time.monotonic() < due:
                    self._encode_queued()
                    continue
                due = time.monotonic() + self.flush_seconds
                self.flush()
                self.last_error = None  # the storage is back: /ready stops reporting it
            except Exception as error:
                # Scoring goes on; the failure is logged and shown by /ready and /metrics.
                self.last_error = f"{self.folder}: {type(error).__name__}: {error}"
                self.write_errors += 1
                LOGGER.exception("prediction log: could not write under %s", self.folder)
