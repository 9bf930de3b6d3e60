import pandas as pd
import pytest

from ml_pipeline.config import load_config
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.contract import infer_contract
from ml_pipeline.core.data.demo_data import DemoSpec, generate_batch
from ml_pipeline.core.data.feature_table import build_feature_table
from ml_pipeline.core.data.expectations import Expectation, cleaned_suite, features_suite, raw_suite, validate
from ml_pipeline.core.monitor.reference import build_reference
from ml_pipeline_tests.conftest import bike_document, write_config


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    config = load_config(
        write_config(
            tmp_path_factory.mktemp("q"),
            bike_document(
                cleaning={"outliers": {"bounds": {"humidity": [0, 100]}}},
                quality={
                    "expectations": [
                        {
                            "table": "cleaned_data",
                            "type": "expect_column_mean_to_be_between",
                            "kwargs": {"column": "temp", "min_value": 100, "max_value": 200},
                            "blocking": False,
                        }
                    ]
                },
            ),
        )
    )
    raw, _ = generate_batch(DemoSpec(), 3)
    cleaned, _ = clean_batch(raw, config.dataset, config.cleaning)
    ignored = ["record_id", "casual", "registered"]
    table = build_feature_table(cleaned, "count", "timestamp", ignored)
    derived = [c.removeprefix("feature__") for c in table.columns if c.startswith("feature__")]
    reference = build_reference(cleaned, "count", ignored, "timestamp", derived)
    contract = infer_contract(raw, config.dataset, 0.9, "batch 3")
    return config, raw, cleaned, table, reference, contract


def test_demo_batch_passes_every_blocking_expectation(demo) -> None:
    config, raw, cleaned, table, reference, contract = demo
    for frame, suite in (
        (raw, raw_suite(config.dataset, config.quality, contract)),
        (cleaned, cleaned_suite(config.dataset, config.cleaning, config.quality, reference, contract)),
        (table, features_suite(config.dataset, config.quality, reference, table)),
    ):
        result = validate(frame, suite)
        assert result.blocking_failures == [], [f.row() for f in result.blocking_failures]


def test_user_expectation_from_config_runs_and_warns(demo) -> None:
    config, _, cleaned, _, reference, _ = demo
    result = validate(cleaned, cleaned_suite(config.dataset, config.cleaning, config.quality, reference))
    [warning] = [f for f in result.warnings if f.origin == "config"]
    assert warning.type == "expect_column_mean_to_be_between" and not warning.blocking


def test_duplicate_ids_and_missing_target_block_with_samples(demo) -> None:
    config, _, cleaned, _, reference, _ = demo
    broken = pd.concat([cleaned, cleaned.head(2)], ignore_index=True)
    broken.loc[0, "count"] = None
    failures = {
        f.type: f for f in validate(broken, cleaned_suite(config.dataset, config.cleaning, config.quality, reference)).blocking_failures
    }
    unique = failures["expect_column_values_to_be_unique"]
    assert unique.unexpected_count == 4 and len(unique.sample) == 4
    assert failures["expect_column_values_to_not_be_null"].unexpected_count == 1


def test_missing_required_column_blocks_raw(demo) -> None:
    config, raw, _, _, _, contract = demo
    result = validate(raw.drop(columns=["humidity"]), raw_suite(config.dataset, config.quality, contract))
    assert [(f.type, f.column) for f in result.blocking_failures] == [
        ("expect_column_to_exist", "humidity")
    ]


def test_values_outside_learned_ranges_warn_without_blocking(demo) -> None:
    config, _, cleaned, _, reference, _ = demo
    shifted = cleaned.assign(temp=cleaned.temp + 80)
    result = validate(shifted, cleaned_suite(config.dataset, config.cleaning, config.quality, reference))
    learned = [f for f in result.failures if f.origin == "reference"]
    assert [f.column for f in learned] == ["temp"] and not learned[0].blocking
    assert learned[0].unexpected_count == cleaned.temp.notna().sum()  # gaps are no values


def test_configured_bounds_block(demo) -> None:
    config, _, cleaned, _, reference, _ = demo
    broken = cleaned.copy()
    broken.loc[3, "humidity"] = 250.0
    failures = validate(broken, cleaned_suite(config.dataset, config.cleaning, config.quality, reference)).blocking_failures
    assert [(f.column, f.origin, f.sample) for f in failures] == [("humidity", "config", ["250.0"])]


def test_unknown_expectation_type_is_named() -> None:
    with pytest.raises(ValueError, match="expect_nonsense"):
        validate(pd.DataFrame({"a": [1]}), [Expectation("expect_nonsense", {}, True, "config")])


def test_an_infinite_feature_value_blocks_the_feature_table(demo) -> None:
    config, _, _, table, reference, _ = demo
    broken = table.copy()
    broken.loc[3, "holiday"] = float("inf")
    result = validate(broken, features_suite(config.dataset, config.quality, reference, broken))
    assert [(f.type, f.column, f.unexpected_count) for f in result.blocking_failures] == [
        ("expect_column_values_to_be_between", "holiday", 1)
    ]
