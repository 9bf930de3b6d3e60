"""The run summary as the CLI prints it and as --json gives it."""

from ml_pipeline.commands.summary import WARNINGS_SHOWN, RunSummary


def test_many_warnings_are_counted_after_the_first_ones_and_all_kept_in_json() -> None:
    summary = RunSummary()
    summary.warnings = {
        f"day{i:02d}": [f"temp: {i} unparseable value(s) set missing"] for i in range(15)
    }
    summary.warnings["day03"].append("last line is truncated; dropped it")
    lines = summary.lines()
    shown = [line for line in lines if "unparseable" in line or "truncated" in line]
    assert len(shown) == WARNINGS_SHOWN
    assert "  day00: temp: 0 unparseable value(s) set missing" in lines
    assert "  ... and 6 more warning(s): see --json" in lines
    as_json = summary.as_json()["partitions"]["warnings"]
    assert sum(len(found) for found in as_json.values()) == 16


def test_a_few_warnings_are_all_printed() -> None:
    summary = RunSummary(warnings={"day01": ["humidity: 1 unparseable value(s) set missing"]})
    assert "  day01: humidity: 1 unparseable value(s) set missing" in summary.lines()
    assert not any(line.startswith("  ... and") for line in summary.lines())
