import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core.data.feature_table import (
    FEATURE_PREFIX,
    build_feature_table,
    raw_input_columns,
)
from ml_pipeline.core.features import (
    FeatureBuilder,
    OutlierClipper,
    as_kinds,
    calendar_parts,
    categories,
    numbers,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "when": pd.to_datetime(["2024-03-02 08:00", "2024-03-04 17:00", None]),
            "temp": [10.0, np.nan, 30.0],
            "kind": ["x", None, "y"],
            "target": [1.0, 2.0, 3.0],
        }
    )


def test_calendar_features_from_the_timestamp() -> None:
    inputs = frame().drop(columns=["target"])
    out = FeatureBuilder("when", ["id"]).fit(inputs).transform(inputs)
    assert out.loc[0, "when_hour"] == 8 and out.loc[0, "when_dayofweek"] == 5
    assert out.loc[0, "when_is_weekend"] == 1 and out.loc[1, "when_is_weekend"] == 0
    assert out.loc[0, "when_hour_sin"] == pytest.approx(np.sin(2 * np.pi * 8 / 24))
    assert out.iloc[2][["when_hour", "when_is_weekend"]].isna().all()
    assert "id" not in out and "when" not in out


def test_serving_text_gives_the_same_features_as_training_types() -> None:
    inputs = frame().drop(columns=["target"])
    builder = FeatureBuilder("when", ["id"]).fit(inputs)
    as_text = inputs.astype({"when": str, "temp": str}).replace({"NaT": None, "nan": None})
    pd.testing.assert_frame_equal(builder.transform(inputs), builder.transform(as_text))


def test_missing_required_column_is_named() -> None:
    inputs = frame().drop(columns=["target"])
    builder = FeatureBuilder("when", ["id"]).fit(inputs)
    with pytest.raises(ValueError, match="missing required columns: temp"):
        builder.transform(inputs.drop(columns=["temp"]))
    builder.transform(inputs.drop(columns=["id"]))  # ignored columns are optional


def test_feature_table_keeps_raw_inputs_derived_features_and_target() -> None:
    table = build_feature_table(frame(), "target", "when", ["id"])
    assert raw_input_columns(list(table.columns), "target") == ["id", "when", "temp", "kind"]
    assert f"{FEATURE_PREFIX}when_month" in table
    assert table.columns[-1] == "target"


def test_numbers_take_what_clients_send_and_refuse_text() -> None:
    assert numbers(pd.Series([1, 2], dtype="int64"), "t").tolist() == [1.0, 2.0]
    got = numbers(pd.Series(["1.5", "", None, " 2 "], dtype=object), "t")
    assert got[0] == 1.5 and np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 2.0
    with pytest.raises(ValueError, match=r"column 't': '21,3\?' is not a number \(row 1\)"):
        numbers(pd.Series(["20", "21,3?"]), "t")


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([np.inf, -np.inf, 1.0]),
        pd.Series(["inf", "-Infinity", "1"], dtype=object),
        pd.Series(["1e400", "1" + "0" * 400, "1"], dtype="str"),
        pd.Series([2**1100, -(2**1100), 1], dtype=object),
        pd.Series(["NaN", "nan", "1"], dtype=object),
        pd.Series([1e308, -3.5e38, 1.0]),
        pd.Series(["1e39", "-" + "9" * 40, "1"], dtype="str"),
    ],
    ids=[
        "float-infinities",
        "text-infinities",
        "text-overflow",
        "int-overflow",
        "text-nan",
        "beyond-float32",
        "text-beyond-float32",
    ],
)
def test_non_finite_numbers_are_missing_not_refused(values: pd.Series) -> None:
    got = numbers(values, "t")
    assert np.isnan(got[:2]).all() and got[2] == 1.0


def test_numbers_up_to_float32s_range_are_kept() -> None:
    kept = [3.4e38, -3.4e38, 1e-320]
    assert numbers(pd.Series(kept), "t").tolist() == kept


@pytest.mark.parametrize("estimator", ["linear", "random_forest"])
def test_a_number_beyond_float32_does_not_break_a_fit(estimator: str) -> None:
    from ml_pipeline.config import CandidateConfig
    from ml_pipeline.core.model import training

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(X["a"] * 2 + rng.normal(size=200))
    X.loc[:20, "a"] = 1e308  # a sentinel: scaling overflows it, a forest's float32 too
    candidate = CandidateConfig(name=estimator, estimator=estimator)
    model = training.fit_configuration(candidate, "regression", X, y, None, [], 0)
    assert np.isfinite(model.predict(X)).all()


def test_categories_read_codes_as_the_text_cleaning_stored() -> None:
    from_csv_with_gap = pd.Series([7.0, np.nan, 0.5])
    assert categories(from_csv_with_gap).tolist()[0] == "7"
    assert pd.isna(categories(from_csv_with_gap)[1]) and categories(from_csv_with_gap)[2] == "0.5"
    assert categories(pd.Series([7, 8])).tolist() == ["7", "8"]
    assert categories(pd.Series([" clear", None], dtype="str")).tolist()[0] == "clear"


def test_the_model_scores_a_client_frame_with_gaps_and_other_types() -> None:
    train = pd.DataFrame({"temp": [10.0, 20.0, 30.0], "code": ["1", "2", "1"]})
    builder = FeatureBuilder().fit(train)
    client = pd.DataFrame({"code": [2.0, np.nan, 9.0], "temp": [5, 6, 7], "extra": ["x"] * 3})
    out = builder.transform(client)
    assert out["temp"].tolist() == [5.0, 6.0, 7.0]
    assert out["code"].tolist()[0] == "2" and pd.isna(out["code"][1]) and out["code"][2] == "9"


def test_timestamps_with_differing_offsets_keep_their_wall_clock_hour() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": ["2026-03-01 06:00:00", "2026-03-01T13:30:00+02:00", "soon"],
            "temp": [1.0, 2.0, 3.0],
        }
    )
    out = FeatureBuilder("timestamp").fit(frame).transform(frame)
    assert out["timestamp_hour"].tolist()[:2] == [6.0, 13.0]
    assert np.isnan(out["timestamp_hour"].iloc[2])


def _pandas_calendar(stamps: pd.Series) -> dict[str, np.ndarray]:
    return {
        part: getattr(stamps.dt, part).astype("float64").to_numpy()
        for part in ("hour", "dayofweek", "month", "dayofyear")
    }


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_calendar_parts_agree_with_pandas_across_centuries_and_leap_days(unit: str) -> None:
    rng = np.random.default_rng(7)
    seconds = rng.integers(-2_208_988_800, 4_102_444_800, size=5000)  # 1900 to 2100
    edges = pd.to_datetime(
        [
            "1900-02-28 23:59:59",
            "1900-03-01",
            "1969-12-31 23:00",
            "1970-01-01",
            "2000-02-29 12:00",
            "2024-12-31 23:59:59",
            "2100-03-01 01:00",
        ],
        format="mixed",
    )
    stamps = pd.Series(
        [*pd.to_datetime(seconds, unit="s"), *edges, pd.NaT], dtype=f"datetime64[{unit}]"
    )
    got = calendar_parts(stamps.to_numpy())
    for part, expected in _pandas_calendar(stamps).items():
        np.testing.assert_array_equal(got[part], expected, err_msg=part)
    assert all(np.isnan(values[-1]) for values in got.values())


def test_calendar_of_zone_aware_times_is_their_local_wall_clock() -> None:
    local = pd.Series(pd.date_range("2026-03-28", periods=100, freq="37min", tz="Europe/Paris"))
    frame = pd.DataFrame({"when": local, "temp": 1.0})
    out = FeatureBuilder("when").fit(frame).transform(frame)
    expected = _pandas_calendar(local)
    for part in ("hour", "dayofweek", "month", "dayofyear"):
        np.testing.assert_array_equal(out[f"when_{part}"].to_numpy(), expected[part])


def test_calendar_beyond_the_nanosecond_range_keeps_its_date() -> None:
    frame = pd.DataFrame({"when": pd.Series(["2500-07-04 09:30"], dtype="datetime64[s]")})
    out = FeatureBuilder("when").fit(frame).transform(frame)
    assert out.loc[0, ["when_hour", "when_month", "when_dayofyear"]].tolist() == [9, 7, 185]
    assert out.loc[0, "when_dayofweek"] == pd.Timestamp("2500-07-04").dayofweek


def test_timestamps_outside_iso_8601_are_still_read() -> None:
    frame = pd.DataFrame(
        {"when": ["2024-03-01 06:00:00", "03/02/2024 07:15", None, "2024-03-03T08:00"]}
    )
    out = FeatureBuilder("when").fit(frame).transform(frame)
    hours = out["when_hour"].tolist()
    assert hours[0] == 6 and hours[1] == 7 and np.isnan(hours[2]) and hours[3] == 8
    assert out["when_dayofyear"].tolist()[1] == 62


def test_the_clipper_holds_numbers_within_the_training_range_and_keeps_gaps() -> None:
    training = np.column_stack([np.arange(1000.0), np.full(1000, np.nan)])
    clipper = OutlierClipper(0.01).fit(training)
    assert clipper.low_[0] == pytest.approx(9.99) and clipper.high_[0] == pytest.approx(989.01)
    assert np.isneginf(clipper.low_[1]) and np.isposinf(clipper.high_[1])  # no range yet
    scored = clipper.transform(np.array([[-1e9, 5.0], [np.nan, np.nan], [500.0, 1e9]]))
    np.testing.assert_array_equal(scored, [[clipper.low_[0], 5.0], [np.nan, np.nan], [500.0, 1e9]])


def test_the_clipper_switched_off_passes_numbers_through() -> None:
    values = np.array([[1.0], [1e12], [np.nan]])
    clipper = OutlierClipper(None).fit(values)
    np.testing.assert_array_equal(clipper.transform(values), values)
    assert list(clipper.get_feature_names_out(["a"])) == ["a"]


def test_partitions_stored_as_other_kinds_are_read_as_the_contract_says() -> None:
    """One partition cleaned while ``depth`` was undecided (text), one after (numbers)."""
    before = pd.DataFrame({"depth": ["61.5", None, "deep"], "cut": [1.0, 2.0, np.nan]})
    after = pd.DataFrame({"depth": [62.0, np.inf], "cut": ["3", "ideal"]})
    read = as_kinds(
        pd.concat([before, after], ignore_index=True), {"depth": "numeric", "cut": "categorical"}
    )
    np.testing.assert_array_equal(read["depth"], [61.5, np.nan, np.nan, 62.0, np.nan])
    assert read["cut"].tolist()[:2] == ["1", "2"] and pd.isna(read["cut"][2])
    assert read["cut"].tolist()[3:] == ["3", "ideal"]
    assert FeatureBuilder().fit(read).numeric_columns_ == ["depth"]
    unchanged = pd.DataFrame({"depth": [1.0], "cut": ["a"]})
    assert (
        as_kinds(unchanged, {"depth": "numeric", "cut": "categorical", "gone": "numeric"})
        is unchanged
    )
