"""The ``features`` table: raw model inputs, the features derived from them, the target.

Kept apart from :mod:`features`, which ships inside the model and pulls in
scikit-learn: most code only needs these names, and the import is costly.
"""

from __future__ import annotations

import pandas as pd

FEATURE_PREFIX = "feature__"


def build_feature_table(
    frame: pd.DataFrame, target: str, timestamp_column: str | None, ignored_columns: list[str]
) -> pd.DataFrame:
    """The model's raw inputs, the features derived from them, and the target.

    Derived columns are prefixed ``feature__`` so they never collide with raw ones;
    training fits on the raw columns and recomputes the same features inside the
    model, which is what makes scoring take raw landed rows.
    """
    from ml_pipeline.core.features import FeatureBuilder

    inputs = frame.drop(columns=[target])
    builder = FeatureBuilder(timestamp_column, ignored_columns).fit(inputs)
    derived = builder.transform(inputs).add_prefix(FEATURE_PREFIX)
    return pd.concat([inputs, derived, frame[[target]]], axis=1)


def raw_input_columns(table_columns: list[str], target: str) -> list[str]:
    return [c for c in table_columns if c != target and not c.startswith(FEATURE_PREFIX)]
