"""The edge's NumPy feature step against the feature code inside every trained model,
on the same rows as a client's CSV file holds them."""

import io

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core.edge_features import MISSING, EdgeSpec, model_inputs
from ml_pipeline.core.features import FeatureBuilder

CSV = """timestamp,temp,humidity,weather,station,record_id
2026-03-01 00:00:00,4.5,80,clear,7,a1
2026-03-01T13:30:00,,NA,rain,7,a2
2026-03-07 09:00:00+02:00,-1.25,55, fog ,12,a3
2026-03-04,3,60,,,a4
2026-12-31T23:59:59Z,1e1,,snow,007,a5
,,,,,a6
2026-03-02 01:00:00,inf,-Infinity,clear,8,a7
2026-03-02 02:00:00,1e400,NaN,clear,8,a8
"""


def _columns(text: str) -> dict[str, list[str]]:
    import csv

    rows = list(csv.reader(io.StringIO(text)))
    return {name: [row[i] for row in rows[1:]] for i, name in enumerate(rows[0])}


def test_edge_features_equal_the_python_feature_step_on_a_csv() -> None:
    client = pd.read_csv(io.StringIO(CSV))
    builder = FeatureBuilder("timestamp", ["record_id"]).fit(
        client.assign(station=client["station"].astype("string"))
    )
    assert builder.categorical_columns_ == ["weather", "station"]
    expected = builder.transform(client)
    spec = EdgeSpec(
        task="regression",
        timestamp_column="timestamp",
        numeric_columns=builder.numeric_columns_,
        categorical_columns=builder.categorical_columns_,
    )
    inputs = model_inputs(_columns(CSV), spec)
    numeric = expected[builder.numeric_output_columns()].to_numpy(dtype=float)
    np.testing.assert_allclose(inputs["numeric"], numeric, rtol=1e-15, equal_nan=True)
    for index, column in enumerate(builder.categorical_columns_):
        reference = [MISSING if pd.isna(v) else v for v in expected[column]]
        assert inputs["categorical"][:, index].tolist() == reference, column


def test_codes_read_as_numbers_become_whole_number_text() -> None:
    spec = EdgeSpec("regression", None, [], ["station"])
    texts = model_inputs({"station": ["7", "007", "7.0", "", "2.5"]}, spec)["categorical"]
    assert texts[:, 0].tolist() == ["7", "7", "7", MISSING, "2.5"]


def test_a_word_in_a_numeric_column_names_column_and_row() -> None:
    spec = EdgeSpec("regression", None, ["temp"], [])
    with pytest.raises(ValueError, match=r"column 'temp': 'warm' is not a number \(row 1\)"):
        model_inputs({"temp": ["3", "warm"]}, spec)


def test_a_missing_column_is_named() -> None:
    spec = EdgeSpec("regression", "timestamp", ["temp"], ["weather"])
    with pytest.raises(ValueError, match="missing required columns: timestamp, weather"):
        model_inputs({"temp": ["1"]}, spec)


def test_non_finite_numbers_are_missing_on_the_edge_as_in_the_model() -> None:
    spec = EdgeSpec(
        task="regression", timestamp_column=None, numeric_columns=["x"], categorical_columns=[]
    )
    cells = ["inf", "-Infinity", "1e400", "NaN", "1e39", "-3.5e38", "3.4e38", "2.5"]
    inputs = model_inputs({"x": cells}, spec)
    expected = (
        FeatureBuilder()
        .fit(pd.DataFrame({"x": [1.0]}))
        .transform(pd.DataFrame({"x": pd.Series(cells, dtype=object)}))
    )
    np.testing.assert_array_equal(inputs["numeric"][:, 0], expected["x"].to_numpy(np.float64))
    assert np.isnan(inputs["numeric"][:6, 0]).all()
    assert np.isfinite(inputs["numeric"][6:, 0]).all()


def test_a_timestamp_in_another_format_names_the_format_expected() -> None:
    spec = EdgeSpec("regression", "timestamp", [], [])
    cells = ["2026-03-01T10:00:00", "not a time", "03/01/2026"]
    with pytest.raises(ValueError, match=r"column 'timestamp': 'not a time' is not an ISO 8601"):
        model_inputs({"timestamp": cells}, spec)
    errors: list[str | None] = [None] * 3
    inputs = model_inputs({"timestamp": cells}, spec, errors)
    assert errors[0] is None and "(row 1)" in errors[1] and "'03/01/2026'" in errors[2]
    assert "YYYY-MM-DD" in errors[2] and spec.timestamp_format.startswith("ISO 8601")
    assert inputs["numeric"][0, 0] == 10.0  # the hour of the readable row
