"""The model card shipped inside every deployed artifact, as JSON and Markdown."""

from __future__ import annotations

import json

import pandas as pd


def build_card(
    *,
    model_name: str,
    version: str,
    created: str,
    code_version: str,
    trigger: str | None,
    mlflow_run_id: str,
    challenger: str,
    candidates: list[dict[str, object]],
    metric: str,
    holdout: str,
    holdout_metrics: dict[str, float],
    baseline_metrics: dict[str, float],
    previous_version: str | None,
    previous_metrics: dict[str, float] | None,
    partitions: dict[str, int],
    train_rows: int,
    holdout_rows: int,
    data_fingerprint: str,
    decision: str,
    reference_metrics: dict[str, float] | None = None,
    compared_rows: int = 0,
    deployed: dict[str, object] | None = None,
    edge: dict[str, object] | None = None,
    search: str = "",
    yardstick: str | None = None,
) -> dict[str, object]:
    return {
        "model": model_name,
        "version": version,
        "created": created,
        "code_version": code_version,
        "trigger": trigger,
        "mlflow_run_id": mlflow_run_id,
        "estimator": challenger,
        "candidates": candidates,
        "search": search,
        "yardstick": yardstick,
        "promotion_metric": metric,
        "decision": decision,
        "holdout": holdout,
        "holdout_metrics": holdout_metrics,
        "baseline_metrics": baseline_metrics,
        "reference_metrics": reference_metrics,
        "previous_champion": {
            "version": previous_version,
            "holdout_metrics": previous_metrics,
            "compared_rows": compared_rows,
        },
        # What was registered: the refit on all rows (in-sample scores only) or the challenger.
        "deployed": deployed or {"refit": False},
        "edge": edge,
        "training_data": {
            "partitions": partitions,
            "train_rows": train_rows,
            "holdout_rows": holdout_rows,
            "fingerprint": data_fingerprint,
        },
    }


def card_json(card: dict[str, object]) -> str:
    return json.dumps(card, indent=2, sort_keys=False, default=str)


def _table(rows: list[dict[str, object]]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False) if rows else "_none_"


def card_markdown(card: dict[str, object]) -> str:
    previous = card["previous_champion"]
    metrics = [
        {"model": f"v{card['version']} (this)", **card["holdout_metrics"]},
        {"model": "baseline", **card["baseline_metrics"]},
    ]
    if card.get("reference_metrics"):
        metrics.append({"model": "default HGB", **card["reference_metrics"]})
    if previous["holdout_metrics"]:
        metrics.append(
            {
                "model": f"v{previous['version']} (previous, {previous['compared_rows']} rows "
                "neither trained on)",
                **previous["holdout_metrics"],
            }
        )
    edge = card.get("edge")
    deployed = card.get("deployed") or {"refit": False}
    in_sample = ", ".join(f"{k}={v:.4g}" for k, v in deployed.get("in_sample", {}).items())
    refit_line = (
        f"- deployed: refit on {deployed['rows']} rows of all the data "
        f"(in-sample, not a test: {in_sample})"
        if deployed["refit"]
        else "- deployed: the challenger as validated (no refit)"
    )
    data = card["training_data"]
    partitions = data["partitions"]
    shown = ", ".join(f"{k} ({v})" for k, v in list(partitions.items())[:20])
    more = f", and {len(partitions) - 20} more" if len(partitions) > 20 else ""
    return "\n".join(
        [
            f"# {card['model']} version {card['version']}",
            "",
            f"- created: {card['created']}",
            f"- code version: {card['code_version']}",
            f"- trigger: {card['trigger'] or 'manual'}",
            f"- MLflow run: {card['mlflow_run_id']}",
            f"- estimator: {card['estimator']}",
            *([f"- search: {card['search']}"] if card.get("search") else []),
            *([f"- against the default HGB: {card['yardstick']}"] if card.get("yardstick") else []),
            f"- decision: {card['decision']}",
            refit_line,
            *([f"- edge (model.onnx): {edge['note']}"] if edge else []),
            "",
            f"## Holdout metrics ({card['holdout']})",
            "",
            _table(metrics),
            "",
            "## Candidates (cross-validated on the training sample unless reused)",
            "",
            _table(card["candidates"]),
            "",
            "## Training data",
            "",
            f"- {len(partitions)} partitions: {shown}{more}",
            f"- {data['train_rows']} training rows, {data['holdout_rows']} holdout rows",
            f"- fingerprint of the training sample: {data['fingerprint']}",
            "",
        ]
    )
