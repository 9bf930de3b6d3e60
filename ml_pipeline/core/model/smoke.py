"""Smoke test of an exported model: load it in a fresh process and score holdout rows.

The child process has nothing of the training run in memory, so it proves that
the artifact alone (its MLmodel, skops file, shipped feature code and signature)
reproduces the predictions the model made in training.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
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


def smoke_test(
    model_dir: Path,
    X: pd.DataFrame,
    expected: np.ndarray,
    expected_columns: list[str],
    timeout: float = 300,
) -> SmokeResult:
    with tempfile.TemporaryDirectory() as scratch:
        rows, out = Path(scratch) / "rows.parquet", Path(scratch) / "out.parquet"
        X.to_parquet(rows, index=False)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ml_pipeline.core.model.smoke",
                str(model_dir),
                str(rows),
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return SmokeResult(False, f"fresh process could not score: {last[:300]}", len(X))
        actual = pd.read_parquet(out)["prediction"].to_numpy()
        schema = json.loads(out.with_suffix(".json").read_text())
    if schema != expected_columns:
        return SmokeResult(
            False, f"input schema {schema} is not the landed columns {expected_columns}", len(X)
        )
    same, difference = _compare(expected, actual)
    if not same:
        return SmokeResult(
            False, "fresh-process predictions differ from in-memory ones", len(X), difference
        )
    return SmokeResult(
        True, f"{len(X)} holdout rows scored identically in a fresh process", len(X), difference
    )


def _score(model_dir: str, rows_path: str, out_path: str) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_dir)
    predictions = np.asarray(model.predict(pd.read_parquet(rows_path)))
    pd.DataFrame({"prediction": predictions}).to_parquet(out_path, index=False)
    columns = [spec.name for spec in model.metadata.get_input_schema().inputs]
    Path(out_path).with_suffix(".json").write_text(json.dumps(columns))


if __name__ == "__main__":
    _score(*sys.argv[1:4])
