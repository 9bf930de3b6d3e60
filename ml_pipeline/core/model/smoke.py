"""Smoke test of an exported model: load it in a fresh process and score holdout rows.

The child process has nothing of the training run in memory, so it proves that
the artifact alone (its MLmodel, skops file, shipped feature code and signature)
reproduces the predictions the model made in training.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TOLERANCE = 1e-6


@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    message: str
    rows: int
    max_abs_difference: float | None = None


def _compare(expected: np.ndarray, actual: np.ndarray) -> tuple[bool, float | None]:
    if len(expected) != len(actual):
        return False, None
    if np.issubdtype(np.asarray(expected).dtype, np.number):
        difference = (
            float(np.max(np.abs(np.asarray(expected, "float64") - actual)))
            if len(expected)
            else 0.0
        )
        return bool(np.allclose(expected, actual, rtol=TOLERANCE, atol=TOLERANCE)), difference
    return bool((np.asarray(expected).astype(str) == np.asarray(actual).astype(str)).all()), None


class PendingSmokeTest:
    """A smoke test running in its child process while the caller does other work."""

    def __init__(
        self,
        process: subprocess.Popen,
        out: Path,
        rows: int,
        expected: np.ndarray,
        expected_columns: list[str],
        timeout: float,
    ) -> None:
        self._process, self._out, self._rows = process, out, rows
        self._expected, self._expected_columns = expected, expected_columns
        self._deadline = time.monotonic() + timeout

    def result(self) -> SmokeResult:
        """Wait for the child and judge its predictions (the caller's timeout counts from
        the start, so time spent on other work is not granted twice)."""
        left = max(self._deadline - time.monotonic(), 0.0)
        self._process.wait(timeout=left)
        if self._process.returncode != 0:
            stderr = self._out.with_suffix(".stderr").read_text(errors="replace")
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            return SmokeResult(False, f"fresh process could not score: {last[:300]}", self._rows)
        actual = pd.read_parquet(self._out)["prediction"].to_numpy()
        schema = json.loads(self._out.with_suffix(".json").read_text())
        if schema != self._expected_columns:
            return SmokeResult(
                False,
                f"input schema {schema} is not the landed columns {self._expected_columns}",
                self._rows,
            )
        same, difference = _compare(self._expected, actual)
        if not same:
            return SmokeResult(
                False,
                "fresh-process predictions differ from in-memory ones",
                self._rows,
                difference,
            )
        return SmokeResult(
            True,
            f"{self._rows} holdout rows scored identically in a fresh process",
            self._rows,
            difference,
        )


class SmokeProcess:
    """A fresh Python process that has imported the scoring libraries and waits for a
    model to score."""

    def __init__(self, process: subprocess.Popen, scratch: Path, timeout: float) -> None:
        self._process, self._scratch, self._timeout = process, scratch, timeout

    def score(
        self, model_dir: Path, X: pd.DataFrame, expected: np.ndarray, expected_columns: list[str]
    ) -> PendingSmokeTest:
        """Hand the child the model and the rows; the result is read from the returned
        test once the caller needs it."""
        rows, out = self._scratch / "rows.parquet", self._scratch / "out.parquet"
        X.to_parquet(rows, index=False)
        request = {"model_dir": str(model_dir), "rows_path": str(rows), "out_path": str(out)}
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # the child died while importing; its stderr says why when the result is read
        return PendingSmokeTest(
            self._process, out, len(X), expected, expected_columns, self._timeout
        )


@contextlib.contextmanager
def smoke_process(timeout: float = 300) -> Iterator[SmokeProcess]:
    """Start the smoke test's fresh process now, so that it imports the scoring libraries
    while the caller is still fitting and logging the model. The child is killed if the
    block is left before its result was read."""
    with tempfile.TemporaryDirectory() as scratch:
        # A file, not a pipe: nobody reads a pipe while the caller works, and a child that
        # filled one with warnings would stall until the result is asked for.
        with (Path(scratch) / "out.stderr").open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "ml_pipeline.core.model.smoke"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            yield SmokeProcess(process, Path(scratch), timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdin is not None and not process.stdin.closed:
                process.stdin.close()


def _score(model_dir: str, rows_path: str, out_path: str) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_dir)
    predictions = np.asarray(model.predict(pd.read_parquet(rows_path)))
    pd.DataFrame({"prediction": predictions}).to_parquet(out_path, index=False)
    columns = [spec.name for spec in model.metadata.get_input_schema().inputs]
    Path(out_path).with_suffix(".json").write_text(json.dumps(columns))


# Loading a logged scikit-learn model needs these, whatever the model. The project's own
# code is not among them: the model's shipped copy of it is part of what is tested.
SCORING_MODULES = (
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "pyarrow.parquet",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.pipeline",
    "skops.io",
)


def _wait_and_score() -> None:
    for name in SCORING_MODULES:
        importlib.import_module(name)
    line = sys.stdin.readline()
    if line:  # nothing comes when the caller gave up before the model was ready
        _score(**json.loads(line))


if __name__ == "__main__":
    _wait_and_score()
