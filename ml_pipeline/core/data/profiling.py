"""Exploration of a bounded sample: statistics, missingness, correlations and plots.

Produces Markdown (with small embedded PNGs, for the Dagster UI) and a standalone
HTML report. matplotlib is imported lazily and always with the Agg backend.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_pipeline.core import images

STRONG = 0.5
MODERATE = 0.3


@dataclass
class Profile:
    rows: int
    stats: pd.DataFrame
    target_relations: pd.Series  # feature -> signed strength against the target
    relation_statistics: dict[str, str]  # feature -> the statistic in target_relations
    correlations: pd.DataFrame  # Spearman among numeric columns
    relationships: list[str]
    plots: dict[str, bytes] = field(default_factory=dict)


def exploration_table(
    cleaned: pd.DataFrame, target: str, timestamp_column: str | None, ignored: list[str]
) -> pd.DataFrame:
    """What the model sees: its input columns and derived features, plus the target.

    Identifiers, leakage columns and the raw timestamp are left out; derived features
    lose their prefix, since each is its own column here.
    """
    from ml_pipeline.core.data.feature_table import FEATURE_PREFIX, build_feature_table

    table = build_feature_table(cleaned, target, timestamp_column, ignored)
    table = table.drop(columns=[c for c in [*ignored, timestamp_column] if c in table])
    table.columns = [c.removeprefix(FEATURE_PREFIX) for c in table.columns]
    return table.loc[:, ~table.columns.duplicated()]


def column_stats(frame: pd.DataFrame, raw_missing: dict[str, float]) -> pd.DataFrame:
    rows = []
    for name in frame.columns:
        values = frame[name]
        row: dict[str, object] = {
            "column": name,
            "kind": "numeric" if pd.api.types.is_numeric_dtype(values) else "categorical",
            "missing % (landed)": round(100 * raw_missing.get(name, 0.0), 2),
            "missing % (cleaned)": round(100 * values.isna().mean(), 2),
            "distinct": int(values.nunique()),
        }
        if row["kind"] == "numeric":
            described = values.describe()
            for key in ("mean", "std", "min", "25%", "50%", "75%", "max"):
                row[key] = round(float(described.get(key, np.nan)), 3)
        else:
            counts = values.astype(str).value_counts()
            row["top"] = counts.index[0] if len(counts) else None
            row["top %"] = (
                round(100 * counts.iloc[0] / max(1, len(values)), 1) if len(counts) else None
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _correlation_ratio(categories: pd.Series, values: pd.Series) -> float:
    """Share of the variance of ``values`` explained by ``categories`` (eta, 0 to 1)."""
    frame = pd.DataFrame({"c": categories.astype(str), "v": values}).dropna()
    if frame.empty or frame.v.var() == 0:
        return 0.0
    means = frame.groupby("c").v.agg(["mean", "count"])
    between = (means["count"] * (means["mean"] - frame.v.mean()) ** 2).sum()
    return float(np.sqrt(between / ((frame.v - frame.v.mean()) ** 2).sum()))


def relation_statistic(task: str, numeric: bool) -> str:
    """The statistic :func:`target_relations` computes for a column: Spearman's rank
    correlation (signed) only for a numeric column against a regression target."""
    if task == "regression":
        return "Spearman" if numeric else "correlation ratio"
    return "correlation ratio" if numeric else "Cramér's V"


def target_relations(frame: pd.DataFrame, target: str, task: str) -> pd.Series:
    """Strength of each column's relation to the target, signed where direction means something."""
    relations = {}
    y = frame[target]
    for name in frame.columns:
        if name == target or frame[name].nunique() < 2:
            continue
        values = frame[name]
        numeric = pd.api.types.is_numeric_dtype(values)
        if task == "regression" and numeric:
            relations[name] = values.corr(y, method="spearman")
        elif task == "regression":
            relations[name] = _correlation_ratio(values, y)
        elif numeric:
            relations[name] = _correlation_ratio(y, values)
        else:
            table = pd.crosstab(values.astype(str), y.astype(str))
            relations[name] = _cramers_v(table)
    series = pd.Series(relations, dtype="float64").dropna()
    return series.reindex(series.abs().sort_values(ascending=False).index)


def _cramers_v(table: pd.DataFrame) -> float:
    observed = table.to_numpy(dtype="float64")
    total = observed.sum()
    if total == 0 or min(observed.shape) < 2:
        return 0.0
    expected = observed.sum(1, keepdims=True) * observed.sum(0, keepdims=True) / total
    chi2 = np.nansum((observed - expected) ** 2 / np.where(expected == 0, np.nan, expected))
    return float(np.sqrt(chi2 / (total * (min(observed.shape) - 1))))


def _strength(value: float) -> str:
    size = abs(value)
    return "strongly" if size >= STRONG else "moderately" if size >= MODERATE else "weakly"


def describe_relationships(
    relations: pd.Series,
    correlations: pd.DataFrame,
    target: str,
    statistics: dict[str, str],
    limit: int = 5,
    derived_prefix: str | None = None,
) -> list[str]:
    """Sentences for the strongest target relations and the most redundant feature pairs.

    Pairs that both start with ``derived_prefix`` (calendar parts of one timestamp) are
    related by construction and not worth a sentence.
    """
    sentences = []
    for name, value in relations.head(limit).items():
        statistic = statistics.get(name, "association")
        if statistic != "Spearman":
            sentences.append(
                f"{name} {_strength(value)} explains {target} ({statistic} {value:.2f})."
            )
        elif value < 0:
            sentences.append(
                f"{target} falls as {name} rises (Spearman {value:+.2f}, "
                f"{_strength(value)} related)."
            )
        else:
            sentences.append(
                f"{target} rises with {name} (Spearman {value:+.2f}, {_strength(value)} related)."
            )
    pairs = []
    columns = [c for c in correlations.columns if c != target]
    for i, left in enumerate(columns):
        for right in columns[i + 1 :]:
            value = correlations.at[left, right]
            if (
                derived_prefix
                and left.startswith(derived_prefix)
                and right.startswith(derived_prefix)
            ):
                continue
            if pd.notna(value) and abs(value) >= STRONG:
                pairs.append((abs(value), left, right, value))
    for _, left, right, value in sorted(pairs, reverse=True)[:3]:
        direction = "move together" if value > 0 else "move in opposite directions"
        sentences.append(
            f"{left} and {right} {direction} (Spearman {value:+.2f}): partly redundant as features."
        )
    return sentences


def make_plots(
    frame: pd.DataFrame,
    target: str,
    relations: pd.Series,
    correlations: pd.DataFrame,
    max_columns: int,
) -> dict[str, bytes]:
    plt = images.pyplot()
    plots = {}
    shown = [target, *[c for c in relations.index if c != target]][:max_columns]
    ncols = 4
    nrows = int(np.ceil(len(shown) / ncols))
    figure, axes = plt.subplots(
        nrows, ncols, figsize=(12, 2.6 * nrows), squeeze=False, constrained_layout=True
    )
    for axis, name in zip(axes.flat, shown, strict=False):
        values = frame[name].dropna()
        if pd.api.types.is_numeric_dtype(values):
            axis.hist(values, bins=30, color="#4c72b0")
        else:
            counts = values.astype(str).value_counts().head(8)
            axis.barh(counts.index[::-1], counts.to_numpy()[::-1], color="#55a868")
        axis.set_title(name, fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(shown) :]:
        axis.set_visible(False)
    figure.suptitle("Distributions (sample)", fontsize=11)
    plots["distributions"] = images.png(figure)

    if len(correlations.columns) > 1:
        size = min(0.45 * len(correlations.columns) + 2, 10)
        figure, axis = plt.subplots(figsize=(size, size * 0.85))
        image = axis.imshow(correlations.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_xticks(
            range(len(correlations.columns)), correlations.columns, rotation=90, fontsize=7
        )
        axis.set_yticks(range(len(correlations.columns)), correlations.columns, fontsize=7)
        figure.colorbar(image, ax=axis, shrink=0.8)
        axis.set_title("Spearman correlations", fontsize=11)
        plots["correlations"] = images.png(figure)

    top = [c for c in relations.index[:3]]
    if top:
        figure, axes = plt.subplots(1, len(top), figsize=(4 * len(top), 3), squeeze=False)
        for axis, name in zip(axes.flat, top, strict=True):
            _against_target(axis, frame[name], frame[target])
            axis.set_xlabel(name, fontsize=8)
            axis.set_ylabel(target, fontsize=8)
        figure.suptitle(f"{target} against its strongest relations", fontsize=11)
        plots["target_relations"] = images.png(figure)
    return plots


# A plot's cost must not grow with a column's distinct values: continuous values are
# binned, and only the most frequent levels of a category or class get a bar of their own.
PLOTTED_LEVELS = 10
PLOTTED_CLASSES = 8
SCATTER_POINTS = 5000


def _top_levels(values: pd.Series, keep: int) -> pd.Series:
    """``values`` as text, all but the ``keep`` most frequent folded into "other"."""
    text = values.astype(str)
    frequent = text.value_counts().index[:keep]
    return text.where(text.isin(frequent), "other")


def _against_target(axis, feature: pd.Series, target: pd.Series) -> None:
    numeric_feature = pd.api.types.is_numeric_dtype(feature)
    if pd.api.types.is_numeric_dtype(target):
        if numeric_feature:
            both = pd.DataFrame({"x": feature, "y": target}).dropna()
            shown = both.sample(min(len(both), SCATTER_POINTS), random_state=0)
            axis.scatter(shown["x"], shown["y"], s=4, alpha=0.3, color="#4c72b0")
            return
        levels = _top_levels(feature, PLOTTED_LEVELS)
        labels = list(levels.value_counts().index)
        axis.boxplot([target[levels == label].dropna() for label in labels])
        axis.set_xticks(range(1, len(labels) + 1), labels, rotation=45, fontsize=7)
        return
    classes = _top_levels(target, PLOTTED_CLASSES)
    if numeric_feature:
        present = feature.notna()
        # Quantile edges: a heavy tail gets bins of its own instead of one crowded bar.
        edges = np.unique(np.quantile(feature[present], np.linspace(0, 1, 31)))
        if len(edges) < 2:
            edges = 1
        names = list(classes.value_counts().index)
        axis.hist(
            [feature[present & (classes == name)] for name in names],
            bins=edges,
            density=True,
            histtype="step",
            label=names,
        )
        axis.legend(fontsize=6, title=target.name, title_fontsize=6)
        return
    pd.crosstab(_top_levels(feature, PLOTTED_LEVELS), classes).plot.bar(ax=axis, stacked=True)


def build_profile(
    frame: pd.DataFrame,
    raw_missing: dict[str, float],
    target: str,
    task: str,
    max_plotted_columns: int,
    derived_prefix: str | None = None,
) -> Profile:
    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].nunique() > 1
    ]
    correlations = frame[numeric].corr(method="spearman") if numeric else pd.DataFrame()
    relations = target_relations(frame, target, task)
    statistics = {
        name: relation_statistic(task, pd.api.types.is_numeric_dtype(frame[name]))
        for name in relations.index
    }
    return Profile(
        rows=len(frame),
        stats=column_stats(frame, raw_missing),
        target_relations=relations,
        relation_statistics=statistics,
        correlations=correlations,
        relationships=describe_relationships(
            relations, correlations, target, statistics, derived_prefix=derived_prefix
        ),
        plots=make_plots(frame, target, relations, correlations, max_plotted_columns),
    )


def _relations_table(profile: Profile) -> pd.DataFrame:
    table = profile.target_relations.round(3).to_frame("strength")
    table["statistic"] = [profile.relation_statistics.get(n, "") for n in table.index]
    return table


def to_markdown(profile: Profile) -> dict[str, str]:
    """Sections of Markdown, one per metadata entry."""
    return {
        "relationships": "\n".join(f"- {s}" for s in profile.relationships) or "_none found_",
        "statistics": profile.stats.to_markdown(index=False),
        "target_relations": _relations_table(profile).to_markdown(),
        "plots": images.markdown_images(profile.plots),
    }


def to_html(profile: Profile, title: str) -> str:
    embedded = images.html_images(profile.plots)
    items = "".join(f"<li>{html.escape(s)}</li>" for s in profile.relationships)
    relations = _relations_table(profile).to_html()
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{profile.rows} sampled rows.</p>"
        f"<h2>Strongest relationships</h2><ul>{items}</ul>"
        f"<h2>Column statistics</h2>{profile.stats.to_html(index=False, na_rep='')}"
        f"<h2>Relation to the target</h2>{relations}"
        f"{embedded}</body></html>"
    )
