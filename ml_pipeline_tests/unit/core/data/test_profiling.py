import pandas as pd

from ml_pipeline.core.data.demo_data import DemoSpec, FaultRates, generate_batch
from ml_pipeline.core.data.profiling import build_profile, to_html, to_markdown

PNG = b"\x89PNG\r\n\x1a\n"


def demo_frame() -> pd.DataFrame:
    data = pd.concat(
        [generate_batch(DemoSpec(faults=FaultRates(0, 0, 0, 0)), i)[0] for i in range(5)],
        ignore_index=True,
    )
    data["hour"] = pd.to_datetime(data.timestamp).dt.hour.astype(float)
    for column in ("temp", "humidity", "windspeed"):  # typed, as cleaning leaves them
        data[column] = pd.to_numeric(data[column])
    return data.drop(columns=["record_id", "timestamp", "casual", "registered"])


def test_profile_names_the_real_drivers_in_words() -> None:
    profile = build_profile(demo_frame(), {"temp": 0.02}, "count", "regression", 6)
    assert set(profile.target_relations.index[:4]) >= {"temp"}
    assert any(s.startswith("count rises with temp") for s in profile.relationships)
    stats = profile.stats.set_index("column")
    assert stats.at["temp", "missing % (landed)"] == 2.0
    assert stats.at["weather", "kind"] == "categorical"


def test_plots_are_pngs_embedded_in_markdown_and_html() -> None:
    profile = build_profile(demo_frame(), {}, "count", "regression", 6)
    assert set(profile.plots) == {"distributions", "correlations", "target_relations"}
    assert all(png.startswith(PNG) and len(png) < 200_000 for png in profile.plots.values())
    assert to_markdown(profile)["plots"].count("data:image/png;base64,") == 3
    assert to_html(profile, "t").count("data:image/png;base64,") == 3


def test_classification_target_relations() -> None:
    frame = demo_frame()
    frame["busy"] = (frame["count"] > frame["count"].median()).map({True: "yes", False: "no"})
    profile = build_profile(frame.drop(columns=["count"]), {}, "busy", "classification", 4)
    assert profile.target_relations.index[0] in {"temp", "hour", "humidity"}


def test_exploration_table_is_what_the_model_sees() -> None:
    from ml_pipeline.core.data.profiling import exploration_table

    raw = generate_batch(DemoSpec(faults=FaultRates(0, 0, 0, 0)), 0)[0]
    raw["timestamp"] = pd.to_datetime(raw.timestamp)
    for column in ("temp", "humidity", "windspeed"):
        raw[column] = pd.to_numeric(raw[column])
    table = exploration_table(raw, "count", "timestamp", ["record_id", "casual", "registered"])
    assert {"record_id", "casual", "registered", "timestamp"}.isdisjoint(table.columns)
    assert {"temp", "timestamp_hour", "weather", "count"} <= set(table.columns)
    assert table.columns.is_unique


def test_a_class_target_is_described_by_the_statistic_that_was_computed() -> None:
    """A numeric class label (wine's 0, 1, 2) once got "rises with ... (Spearman)" for
    what was a correlation ratio; the sentence and the table name the real statistic."""
    frame = demo_frame()
    frame["band"] = pd.qcut(frame["count"], 3, labels=False)  # numeric labels 0, 1, 2
    profile = build_profile(frame.drop(columns=["count"]), {}, "band", "classification", 4)
    assert profile.relationships and not any("Spearman" in s for s in profile.relationships[:5])
    assert any("correlation ratio" in s for s in profile.relationships)
    assert profile.relation_statistics["temp"] == "correlation ratio"
    assert profile.relation_statistics["weather"] == "Cramér's V"
    table = to_markdown(profile)["target_relations"]
    assert "correlation ratio" in table and "Spearman" not in table


def _bars_against_target(feature: pd.Series, target: pd.Series) -> int:
    from ml_pipeline.core import images
    from ml_pipeline.core.data.profiling import _against_target

    plt = images.pyplot()
    figure, axis = plt.subplots()
    try:
        _against_target(axis, feature, target)
        return len(axis.patches) + len(axis.lines)
    finally:
        plt.close(figure)


def test_a_plot_against_a_class_target_does_not_grow_with_distinct_values() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = 5000
    target = pd.Series(rng.choice([f"class_{i}" for i in range(12)], rows), name="label")
    continuous = pd.Series(rng.lognormal(3, 1.5, rows).round(3))  # ~5,000 distinct values
    assert continuous.nunique() > 4000
    levels = pd.Series(rng.choice([f"level_{i}" for i in range(2000)], rows))
    assert _bars_against_target(continuous, target) <= 9  # one outline per shown class
    assert _bars_against_target(levels, target) <= 11 * 9  # top levels × top classes
    assert _bars_against_target(levels, pd.Series(rng.normal(size=rows))) <= 11 * 7
