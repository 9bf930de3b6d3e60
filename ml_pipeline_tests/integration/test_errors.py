"""The user's error is found inside Dagster's wrappers, whichever shape the chain has."""

from ml_pipeline.commands.errors import cause_line


def test_the_first_error_not_raised_by_dagster_is_told() -> None:
    chain = [
        ("DagsterExecutionStepExecutionError", "Error occurred while executing op features:"),
        ("ValueError", "landing/day_03.csv: column 'temp' repeats in the header\nTraceback..."),
        ("KeyError", "'temp'"),
    ]
    assert cause_line(chain) == "landing/day_03.csv: column 'temp' repeats in the header"


def test_a_chain_of_dagster_errors_only_tells_the_innermost() -> None:
    chain = [("DagsterRunFailed", "outer"), ("DagsterTypeCheckDidNotPass", "inner detail")]
    assert cause_line(chain) == "inner detail"


def test_an_unknown_class_counts_as_the_users() -> None:
    assert cause_line([(None, "  first line\nsecond")]) == "first line"


def test_nothing_to_tell_says_so() -> None:
    assert cause_line([]) == "no message"
    assert cause_line([("DagsterError", "")]) == "no message"


def test_the_error_behind_the_step_wrappers_failure_is_told() -> None:
    chain = [
        ("DagsterExecutionStepExecutionError", "Error occurred while executing op trained_model:"),
        ("Failure", "dagster._core.definitions.events.Failure: target 'count' has 200 values"),
        ("ValueError", "ValueError: target 'count' has 200 values\n"),
    ]
    assert cause_line(chain) == "ValueError: target 'count' has 200 values"


def test_a_failure_a_step_raised_itself_is_told_by_its_description() -> None:
    chain = [("Failure", "dagster._core.definitions.events.Failure: a.csv: empty file\n")]
    assert cause_line(chain) == "a.csv: empty file"
