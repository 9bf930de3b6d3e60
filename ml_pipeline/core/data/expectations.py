"""Great Expectations suites for the ingest tables, built from config and the reference.

Suites are plain lists of :class:`Expectation`; :func:`validate` runs them with an
ephemeral GX context on a pandas frame. Blocking expectations stop downstream
work when they fail; the others are reported as warnings. GX is imported inside
:func:`validate` because importing it takes seconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_pipeline.config import CleaningConfig, DatasetConfig, QualityConfig
from ml_pipeline.core import names
from ml_pipeline.core.data.contract import SchemaContract
from ml_pipeline.core.data.feature_table import FEATURE_PREFIX
from ml_pipeline.core.monitor.reference import OTHER, ReferenceProfile

NUMERIC_TYPES = ["float64", "Float64", "int64", "Int64", "float32", "int32"]
DATETIME_TYPES = [f"datetime64[{unit}]" for unit in ("ns", "us", "ms", "s")]
SAMPLE_VALUES = 5


@dataclass(frozen=True)
class Expectation:
    type: str
    kwargs: dict[str, object]
    blocking: bool
    origin: str  # "schema", "config" or "reference"

    @property
    def column(self) -> str:
        return str(self.kwargs.get("column", self.kwargs.get("column_list", "")))


@dataclass
class FailedExpectation:
    type: str
    column: str
    blocking: bool
    origin: str
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[str]
    observed: str | None

    def line(self) -> str:
        """The failure in one line, as a run summary tells it."""
        where = f" on {self.column}" if self.column else ""
        found = f": {self.unexpected_count} unexpected" if self.unexpected_count else ""
        if found and self.sample:
            found += f" (e.g. {', '.join(self.sample[:2])})"
        elif self.observed:
            found = f": observed {self.observed}"
        return f"{self.type}{where}{found}"

    def row(self) -> dict[str, object]:
        return {
            "expectation": self.type,
            "column": self.column,
            "blocking": self.blocking,
            "from": self.origin,
            "unexpected": self.unexpected_count,
            "unexpected %": None
            if self.unexpected_percent is None
            else round(self.unexpected_percent, 2),
            "observed": self.observed,
            "sample values": ", ".join(self.sample),
        }


@dataclass
class SuiteResult:
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[FailedExpectation]:
        return [f for f in self.failures if f.blocking]

    @property
    def warnings(self) -> list[FailedExpectation]:
        return [f for f in self.failures if not f.blocking]


def _user_expectations(quality: QualityConfig, table: str) -> list[Expectation]:
    return [
        Expectation(e.type, dict(e.kwargs), e.blocking, "config")
        for e in quality.expectations
        if e.table == table
    ]


def _row_count() -> Expectation:
    return Expectation("expect_table_row_count_to_be_between", {"min_value": 1}, True, "schema")


def _exists(column: str) -> Expectation:
    return Expectation("expect_column_to_exist", {"column": column}, True, "schema")


def _not_null(column: str, blocking: bool = True, mostly: float = 1.0) -> Expectation:
    kwargs: dict[str, object] = {"column": column}
    if mostly < 1:
        kwargs["mostly"] = mostly
    return Expectation("expect_column_values_to_not_be_null", kwargs, blocking, "schema")


def raw_suite(
    dataset: DatasetConfig, quality: QualityConfig, contract: SchemaContract | None
) -> list[Expectation]:
    """The landed table as read: the contract's required columns present, rows to work with."""
    required = [dataset.target, *([dataset.timestamp_column] if dataset.timestamp_column else [])]
    if contract is not None:
        required += contract.required()
    suite = [_row_count(), *(_exists(c) for c in dict.fromkeys(required))]
    suite.append(_not_null(dataset.target, blocking=False, mostly=0.95))
    return suite + _user_expectations(quality, names.RAW_SAMPLES)


def _learned(reference: ReferenceProfile, quality: QualityConfig) -> list[Expectation]:
    """Ranges and category sets the champion was trained on; new values warn, not block."""
    margin, mostly = quality.learned_range_margin, quality.learned_mostly
    suite = []
    for name, column in reference.columns.items():
        if not column.required:
            continue
        if column.kind == "numeric" and column.low is not None and column.high is not None:
            span = max(column.high - column.low, 1e-9)
            suite.append(
                Expectation(
                    "expect_column_values_to_be_between",
                    {
                        "column": name,
                        "min_value": column.low - margin * span,
                        "max_value": column.high + margin * span,
                        "mostly": mostly,
                    },
                    False,
                    "reference",
                )
            )
        elif column.kind == "categorical" and column.categories:
            known = [c for c in column.categories if c != OTHER]
            if column.categories.get(OTHER, 0.0) == 0.0:
                suite.append(
                    Expectation(
                        "expect_column_values_to_be_in_set",
                        {"column": name, "value_set": known, "mostly": mostly},
                        False,
                        "reference",
                    )
                )
    return suite


def cleaned_suite(
    dataset: DatasetConfig,
    cleaning: CleaningConfig,
    quality: QualityConfig,
    reference: ReferenceProfile | None,
    contract: SchemaContract | None = None,
) -> list[Expectation]:
    suite = [_row_count(), _exists(dataset.target), _not_null(dataset.target)]
    if len(dataset.id_columns) == 1:
        suite.append(
            Expectation(
                "expect_column_values_to_be_unique",
                {"column": dataset.id_columns[0]},
                True,
                "schema",
            )
        )
    elif dataset.id_columns:
        suite.append(
            Expectation(
                "expect_compound_columns_to_be_unique",
                {"column_list": list(dataset.id_columns)},
                True,
                "schema",
            )
        )
    if dataset.timestamp_column:
        suite.append(
            Expectation(
                "expect_column_values_to_be_in_type_list",
                {"column": dataset.timestamp_column, "type_list": DATETIME_TYPES},
                True,
                "schema",
            )
        )
    if dataset.task == "regression":
        suite.append(
            Expectation(
                "expect_column_values_to_be_in_type_list",
                {"column": dataset.target, "type_list": NUMERIC_TYPES},
                True,
                "schema",
            )
        )
    for column, (low, high) in cleaning.outliers.bounds.items():
        suite.append(
            Expectation(
                "expect_column_values_to_be_between",
                {"column": column, "min_value": low, "max_value": high},
                True,
                "config",
            )
        )
    if contract is not None:
        for column in contract.columns:
            if column.kind == "numeric" and column.role == "feature":
                suite.append(
                    Expectation(
                        "expect_column_values_to_be_in_type_list",
                        {"column": column.name, "type_list": NUMERIC_TYPES},
                        True,
                        "schema",
                    )
                )
    if reference is not None:
        suite += _learned(reference, quality)
    return suite + _user_expectations(quality, names.CLEANED_DATA)


def _finite(column: str) -> Expectation:
    """Every present value a finite number: an infinity passes a type check and then
    fails every fit on the table."""
    largest = float(np.finfo("float64").max)
    return Expectation(
        "expect_column_values_to_be_between",
        {"column": column, "min_value": -largest, "max_value": largest},
        True,
        "schema",
    )


def features_suite(
    dataset: DatasetConfig,
    quality: QualityConfig,
    reference: ReferenceProfile | None,
    table: pd.DataFrame | None = None,
) -> list[Expectation]:
    """The feature table: the target, the reference's features, and, for the ``table`` at
    hand, every numeric input column (and a regression target) finite. Derived features
    are computed from those inputs by code that yields finite numbers or gaps."""
    target = dataset.target
    suite = [_row_count(), _exists(target), _not_null(target)]
    if reference is not None:
        suite += [_exists(f"{FEATURE_PREFIX}{name}") for name in reference.features]
    if table is not None:
        numeric = table.select_dtypes(include="number", exclude="bool").columns
        suite += [_finite(str(c)) for c in numeric if not str(c).startswith(FEATURE_PREFIX)]
    return suite + _user_expectations(quality, names.FEATURES)


# One in-memory context per process: building it costs about as much as validating a
# suite, and a process validates three suites per file. It keeps no data between batches.
@functools.cache
def _context_and_batch_definition() -> object:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("ml_pipeline")
    return source.add_dataframe_asset("table").add_batch_definition_whole_dataframe("whole")


def _to_gx(expectation: Expectation, index: int) -> object:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    try:
        return ExpectationConfiguration(
            type=expectation.type, kwargs=expectation.kwargs, meta={"ml_pipeline_index": index}
        ).to_domain_obj()
    except Exception as error:
        raise ValueError(
            f"expectation {expectation.type} {expectation.kwargs}: {str(error).splitlines()[0]}"
        ) from error


def check_user_expectations(quality: QualityConfig) -> None:
    """Raise ValueError naming the first configured expectation GX does not accept."""
    _context_and_batch_definition()
    for index, expectation in enumerate(quality.expectations):
        _to_gx(Expectation(expectation.type, dict(expectation.kwargs), True, "config"), index)


def validate(frame: pd.DataFrame, suite: list[Expectation]) -> SuiteResult:
    import great_expectations as gx

    batch_definition = _context_and_batch_definition()  # suites need a context to exist
    gx_suite = gx.ExpectationSuite(name="ml_pipeline")
    for index, expectation in enumerate(suite):
        gx_suite.add_expectation(_to_gx(expectation, index))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(gx_suite, result_format="SUMMARY")
    result = SuiteResult(evaluated=len(suite))
    # GX does not keep the suite's order in its results; the index in meta maps them back.
    for outcome in validation.results:
        if outcome.success:
            continue
        expectation = suite[outcome.expectation_config.meta["ml_pipeline_index"]]
        details = outcome.result or {}
        error = (outcome.exception_info or {}).get("exception_message")
        observed = details.get("observed_value")
        result.failures.append(
            FailedExpectation(
                type=expectation.type,
                column=expectation.column,
                blocking=expectation.blocking,
                origin=expectation.origin,
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                sample=[
                    str(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_VALUES]
                ],
                observed=error or (None if observed is None else str(observed)[:200]),
            )
        )
    return result
