import numpy as np
import pandas as pd
import pytest

from ml_pipeline.config import CleaningConfig, DatasetConfig, OutlierConfig
from ml_pipeline.core.data.cleaning import SchemaError, clean_batch
from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch

DATASET = DatasetConfig(
    landing_dir="x",
    target="y",
    task="regression",
    timestamp_column="ts",
    id_columns=["id"],
    drop_columns=["leak"],
)


def batch(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "id": [str(i) for i in range(n)],
        "ts": [f"2024-01-01 {i % 24:02d}:00:00" for i in range(n)],
        "leak": ["1"] * n,
        "y": [str(i) for i in range(n)],
    }
    return pd.DataFrame({**base, **columns})


def clean(frame, **cleaning):
    return clean_batch(frame, DATASET, CleaningConfig(**cleaning))


def test_missing_target_column_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="target column 'y' is missing"):
        clean(batch(x=["1"]).drop(columns=["y"]))


def test_exact_duplicates_only_are_removed() -> None:
    frame = batch(x=["1", "2", "3"])
    frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    frame.loc[3, "x"] = frame.loc[1, "x"]
    near = frame.iloc[[0]].assign(y="99")  # same id, different target: not an exact duplicate
    cleaned, report = clean(pd.concat([frame, near], ignore_index=True))
    assert report.duplicates_removed == 1
    assert len(cleaned) == 4


def test_types_are_coerced_and_unparseable_values_counted() -> None:
    values = [str(v) for v in range(20)] + ["21,5?"]
    cleaned, report = clean(batch(x=values, kind=["a"] * 21))
    assert report.column_kinds["x"] == "numeric"
    assert report.column_kinds["kind"] == "categorical"
    assert report.column_kinds["ts"] == "datetime"
    assert report.mistyped == {"x": 1}
    assert cleaned["x"].dtype == "float64"
    assert pd.api.types.is_datetime64_any_dtype(cleaned["ts"])


def test_blank_text_in_a_category_is_a_gap_not_a_mistyped_value() -> None:
    kinds = ["a", " ", "b", "   ", "\t"] + ["a"] * 16
    cleaned, report = clean(batch(x=[str(v) for v in range(21)], kind=kinds))
    assert report.column_kinds["kind"] == "categorical"
    assert report.mistyped == {}
    assert cleaned["kind"].isna().sum() == 3 and set(cleaned["kind"].dropna()) == {"a", "b"}


def test_non_finite_numbers_become_missing_and_are_counted_apart_from_typos() -> None:
    values = [str(v) for v in range(20)] + ["inf", "-Infinity", "1e400", "oops"]
    cleaned, report = clean(batch(x=values), missing="indicator")
    assert report.non_finite == {"x": 3}
    assert report.mistyped == {"x": 1}
    assert np.isfinite(cleaned["x"].dropna()).all() and cleaned["x"].isna().sum() == 4
    assert "3 non-finite numbers set missing" in report.summary()


def test_an_infinite_target_is_a_missing_target() -> None:
    frame = batch(x=["1", "2", "3"]).assign(y=["1", "inf", "3"])
    cleaned, report = clean(frame)
    assert report.missing_target_removed == 1 and len(cleaned) == 2


def test_configured_column_types_win_over_inference() -> None:
    dataset = DATASET.model_copy(update={"column_types": {"code": "categorical"}})
    cleaned, report = clean_batch(batch(code=["1", "2"]), dataset, CleaningConfig())
    assert report.column_kinds["code"] == "categorical"
    assert cleaned["code"].tolist() == ["1", "2"]


def test_rows_without_target_are_removed() -> None:
    frame = batch(x=["1", "2", "3"])
    frame.loc[1, "y"] = None
    cleaned, report = clean(frame)
    assert report.missing_target_removed == 1
    assert len(cleaned) == 2


def spread(n=40, glitch=1000.0):
    rng = np.random.default_rng(0)
    values = rng.normal(20, 3, n).round(2).astype(str).tolist()
    values[5] = str(glitch)
    return values


@pytest.mark.parametrize("method", ["iqr", "zscore"])
def test_statistical_outliers_are_flagged_and_kept_as_landed_by_default(method) -> None:
    cleaned, report = clean(batch(x=spread()), outliers=OutlierConfig(method=method))
    assert report.outliers == {"x": 1}
    assert report.outlier_index == {"x": [5]}
    assert report.outlier_examples == {"x": [1000.0]}
    assert report.outlier_treatment == {"x": "flagged, kept as landed"}
    assert cleaned.loc[5, "x"] == 1000.0 and not report.imputed
    assert "1 outliers flagged and kept as landed" in report.summary()
    assert report.cell_notes() == []  # no landed value changed


@pytest.mark.parametrize("method", ["iqr", "zscore"])
def test_statistical_outliers_are_nulled_then_imputed_when_asked(method) -> None:
    outliers = OutlierConfig(method=method, treatment="null")
    cleaned, report = clean(batch(x=spread()), outliers=outliers, missing="impute")
    assert report.outliers == {"x": 1}
    assert report.outlier_treatment == {"x": "set missing"}
    assert report.imputed == {"x": 1}
    assert 10 < cleaned.loc[5, "x"] < 30
    assert report.cell_notes() == ["x: 1 outlier(s) set missing"]


def test_outlier_clip_and_drop_treatments() -> None:
    clipped, _ = clean(batch(x=spread()), outliers=OutlierConfig(treatment="clip"))
    assert 20 < clipped.loc[5, "x"] < 1000
    dropped, report = clean(batch(x=spread()), outliers=OutlierConfig(treatment="drop"))
    assert report.outlier_rows_removed == 1 and len(dropped) == 39


def test_domain_bounds_apply_even_to_few_distinct_values() -> None:
    values = ["10", "20", "250", "20"]
    _, report = clean(
        batch(h=values), outliers=OutlierConfig(method="none", bounds={"h": (0, 100)})
    )
    assert report.outliers == {"h": 1}


def test_values_outside_declared_bounds_are_set_missing_even_when_outliers_are_kept() -> None:
    values = [str(v) for v in range(20, 60)] + ["250"]
    cleaned, report = clean(batch(h=values, x=spread(41)), outliers=OutlierConfig(bounds={"h": (0, 100)}))
    assert report.outlier_treatment == {"h": "set missing", "x": "flagged, kept as landed"}
    assert np.isnan(cleaned.loc[40, "h"]) and cleaned.loc[5, "x"] == 1000.0
    assert report.left_for_model == {"h": 1}


def test_flags_and_codes_are_not_statistical_outliers() -> None:
    flags = ["0"] * 30 + ["1"] * 2
    _, report = clean(batch(flag=flags))
    assert report.outliers == {}


def test_target_and_identifier_columns_are_never_treated() -> None:
    frame = batch(x=spread())
    frame["y"] = spread(glitch=1e6)
    frame["leak"] = spread(glitch=1e6)
    cleaned, report = clean(frame)
    assert set(report.outliers) == {"x"}
    assert cleaned["y"].max() == 1e6


def test_gaps_are_left_for_the_models_imputer_by_default() -> None:
    cleaned, report = clean(batch(x=["1", None, "3", "5"], kind=["a", "a", None, "b"]))
    assert report.missing == {"x": 1, "kind": 1}
    assert report.left_for_model == {"x": 1, "kind": 1} and not report.imputed
    assert cleaned["x"].isna().tolist() == [False, True, False, False]
    assert "2 missing values left for the model's imputer" in report.summary()


def test_missing_values_imputed_per_kind() -> None:
    cleaned, report = clean(
        batch(x=["1", None, "3", "5"], kind=["a", "a", None, "b"]), missing="impute"
    )
    assert report.missing == {"x": 1, "kind": 1}
    assert cleaned["x"].tolist() == [1.0, 3.0, 3.0, 5.0]
    assert cleaned["kind"].tolist() == ["a", "a", "a", "b"]


def test_missing_values_dropped_when_configured() -> None:
    cleaned, report = clean(batch(x=["1", None, "3"]), missing="drop")
    assert report.missing_rows_removed == 1 and len(cleaned) == 2


def test_demo_batch_cleaning_matches_ground_truth() -> None:
    rates = FaultRates(missing=0.02, duplicate=0.02, outlier=0.01, mistyped=0.01)
    dirty, truth = generate_batch(DemoSpec(rows_per_batch=960, faults=rates), 5)
    dataset = DATASET.model_copy(
        update={
            "target": "count",
            "timestamp_column": "timestamp",
            "id_columns": ["record_id"],
            "drop_columns": ["casual", "registered"],
        }
    )
    # Outliers set missing and every gap filled at ingest, as asked: no gap is left.
    cleaning = CleaningConfig(missing="impute", outliers=OutlierConfig(treatment="null"))
    cleaned, report = clean_batch(dirty, dataset, cleaning)
    assert report.duplicates_removed == (truth.fault == "duplicate").sum()
    assert cleaned["record_id"].is_unique and len(cleaned) == 960
    mistyped = truth[truth.fault == "mistyped"].groupby("column").size().to_dict()
    assert report.mistyped == mistyped
    assert cleaned[["temp", "humidity", "windspeed", "weather"]].notna().all().all()


def test_whole_number_class_labels_stay_integers_and_text_labels_stay_text() -> None:
    dataset = DATASET.model_copy(update={"task": "classification"})
    numeric = pd.DataFrame({"y": ["0", "1", "1", None], "x": ["1", "2", "3", "4"]})
    cleaned, _ = clean_batch(numeric, dataset, CleaningConfig(), {"y": "numeric", "x": "numeric"})
    assert cleaned["y"].dtype == "int64" and cleaned["y"].tolist() == [0, 1, 1]
    text = numeric.assign(y=["no", "yes", "yes", None])
    cleaned, _ = clean_batch(text, dataset, CleaningConfig(), {"y": "categorical", "x": "numeric"})
    assert cleaned["y"].tolist() == ["no", "yes", "yes"]


def test_the_contracts_kinds_win_over_what_one_batch_looks_like() -> None:
    looks_numeric = pd.DataFrame({"y": ["1", "2"], "zone": ["01", "02"]})
    cleaned, report = clean_batch(
        looks_numeric, DATASET, CleaningConfig(), {"y": "numeric", "zone": "categorical"}
    )
    assert report.column_kinds["zone"] == "categorical" and cleaned["zone"].tolist() == ["01", "02"]
