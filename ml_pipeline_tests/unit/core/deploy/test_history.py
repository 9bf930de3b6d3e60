from ml_pipeline.core.deploy.history import HistoryEntry, history_lines, history_rows

ENTRIES = [
    HistoryEntry("2026-01-01T00:00:00+00:00", "promoted", "1", "first", "started by cli", {}),
    HistoryEntry("2026-01-02T00:00:00+00:00", "kept", "1", "not better", "sensor", {"rmse": 2.5}),
    HistoryEntry("2026-01-03T00:00:00+00:00", "refused", None, "refused", "cli (ann@box)"),
]


def test_each_decision_is_one_line_with_what_serves_and_who_started_it() -> None:
    lines = history_lines(ENTRIES)
    assert len(lines) == 3
    assert "kept" in lines[1] and "v1" in lines[1] and "[rmse=2.5]" in lines[1]
    assert "no champion" in lines[2] and lines[2].endswith("started by cli (ann@box)")


def test_the_ui_table_shows_the_newest_first_and_at_most_the_limit() -> None:
    rows = history_rows(ENTRIES, limit=2)
    assert [row["decision"] for row in rows] == ["refused", "kept"]
    assert rows[0]["serving"] == "none"
