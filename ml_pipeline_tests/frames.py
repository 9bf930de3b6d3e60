"""Small frames shaped like a landed table, for tests and benchmarks of the model code."""

import numpy as np
import pandas as pd


def labelled_frame(task: str, n: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    """A timestamp, a number, a category and an id, with a target that depends on the
    number and the category: noisy numbers for regression, two text labels otherwise."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
            "a": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], n),
            "id": [f"r{i}" for i in range(n)],
        }
    )
    signal = 3 * X["a"] + (X["c"] == "x") * 2
    if task == "regression":
        return X, signal + rng.normal(0, 0.3, n)
    return X, pd.Series(np.where(signal > 1, "high", "low"))
