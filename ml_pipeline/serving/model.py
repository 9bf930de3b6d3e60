"""The champion as the service holds it: loaded only from the deploy folder.

The pipeline exports every promoted version to ``<deploy>/v<N>`` and switches
the ``current`` link to it in one rename. The service follows that link and
nothing else, and refuses a link that leads out of the deploy folder. A deploy
folder on a storage URL is followed the same way through a local copy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml_pipeline.core import storage, tracking
from ml_pipeline.core.deploy.deploy_folder import CURRENT_LINK, DeployFolderError, fetch_current
from ml_pipeline.core.model.compiled import CompiledScorer, NotCompilable, compile_pipeline
from ml_pipeline.core.storage import StoragePath
from ml_pipeline.core.tracking import CHAMPION_ALIAS
from ml_pipeline.serving.inputs import InputSchema, Rows


class ModelSourceError(RuntimeError):
    """The deploy folder holds no loadable champion; the message says why."""


def current_version_dir(
    deploy_dir: StoragePath, cache_dir: Path | None = None, name: str = CURRENT_LINK
) -> Path | None:
    """Where ``<deploy>/current`` (or the link ``name``) leads, or None before the first
    deployment.

    On a storage URL the version is downloaded once into ``cache_dir`` and served
    from there.
    """
    if storage.is_remote(deploy_dir):
        if cache_dir is None:
            raise ModelSourceError(f"{deploy_dir}: a remote deploy folder needs a local cache")
        try:
            return fetch_current(deploy_dir, cache_dir, name)
        except (DeployFolderError, OSError) as error:
            raise ModelSourceError(f"{deploy_dir}: {error}") from None
    link = deploy_dir / name
    if not os.path.lexists(link):
        return None
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as error:
        raise ModelSourceError(f"{link}: cannot be followed: {error}") from None
    if target.parent != deploy_dir.resolve() or not target.is_dir():
        raise ModelSourceError(
            f"{link}: points to {target}, outside the deploy folder {deploy_dir}"
        )
    return target


@dataclass(frozen=True)
class Scored:
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = None
    # The model's input matrix as the compiled path computed it (a view, not a copy),
    # kept for the skew check; None when the pipeline scored the rows itself.
    features: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    path: Path
    pipeline: Any = field(repr=False)
    schema: InputSchema = field(repr=False)
    card: dict[str, Any] = field(repr=False)
    loaded_at: str
    classes: list[Any] | None = None
    # The pipeline with its preprocessing compiled to NumPy, or why it is served as is.
    compiled: CompiledScorer | None = field(default=None, repr=False)
    scoring_path: str = "scikit-learn pipeline"

    def score(self, rows: Rows) -> Scored:
        """Predictions for checked ``rows``, with class probabilities if any."""
        frame = rows.frame(self.schema)
        features = None
        if self.compiled is not None:
            model, inputs = self.compiled.model, self.compiled.features(frame)
            features = inputs
        else:
            model, inputs = self.pipeline, frame
        predictions = model.predict(inputs)
        if self.classes is None:
            return Scored(np.asarray(predictions, dtype="float64").tolist(), features=features)
        shares = model.predict_proba(inputs)
        labels = [str(label) for label in self.classes]
        return Scored(
            np.asarray(predictions).tolist(),
            [dict(zip(labels, row, strict=True)) for row in shares.tolist()],
            features,
        )

    def describe(self) -> dict[str, Any]:
        card = self.card
        trained_on = card.get("training_data") or {}
        return {
            "name": self.name,
            "version": self.version,
            "alias": CHAMPION_ALIAS,
            "created": card.get("created"),
            "loaded_at": self.loaded_at,
            "estimator": card.get("estimator"),
            "trained_on_partitions": sorted(trained_on.get("partitions") or {}),
            "train_rows": trained_on.get("train_rows"),
            "holdout": card.get("holdout"),
            "holdout_metrics": card.get("holdout_metrics") or {},
            "baseline_metrics": card.get("baseline_metrics") or {},
            "classes": [str(c) for c in self.classes] if self.classes is not None else None,
            "input_columns": [c.name for c in self.schema.columns if c.used],
            "scoring_path": self.scoring_path,
        }


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelSourceError(f"{path}: unreadable: {error}") from None
    return found if isinstance(found, dict) else {}


def _feature_contract(pipeline: Any) -> tuple[str | None, list[str] | None, list[str]]:
    """The timestamp column, the columns the model reads and its numeric ones, from its
    first step."""
    steps = getattr(pipeline, "steps", None)
    first = steps[0][1] if steps else None
    used = getattr(first, "required_columns", None)
    numeric = list(getattr(first, "numeric_columns_", []))
    return (
        getattr(first, "timestamp_column", None),
        list(used) if used is not None else None,
        numeric,
    )


def load_served_model(
    version_dir: Path, compiled: bool = True, id_column: str | None = None
) -> ServedModel:
    """Load an exported version folder: the scikit-learn pipeline, signature and card;
    with ``compiled``, also the pipeline's scorer with its preprocessing compiled.
    ``id_column`` is the dataset's row id, read from requests beside the features."""
    from mlflow.models import Model

    try:
        meta = Model.load(str(version_dir / "MLmodel"))
    except Exception as error:
        raise ModelSourceError(f"{version_dir}: not an MLflow model: {error}") from None
    if meta.signature is None:
        raise ModelSourceError(f"{version_dir}: the model has no input signature")
    pipeline = tracking.load_sklearn_model(str(version_dir))
    timestamp_column, used, numeric = _feature_contract(pipeline)
    try:
        schema = InputSchema.from_signature(
            meta.signature.inputs.to_dict(), timestamp_column, used, numeric, id_column
        )
    except ValueError as error:
        raise ModelSourceError(f"{version_dir}: {error}") from None
    card = _read_json(version_dir / "model_card.json")
    version = str(card.get("version") or version_dir.name.removeprefix("v"))
    classes = getattr(pipeline, "classes_", None)
    scorer, path = None, "scikit-learn pipeline (serving.compiled_scoring is off)"
    if compiled:
        try:
            scorer, path = compile_pipeline(pipeline), "preprocessing compiled to NumPy"
        except NotCompilable as why:
            path = f"scikit-learn pipeline ({why})"
    return ServedModel(
        name=str(card.get("model", "model")),
        version=version,
        path=version_dir,
        pipeline=pipeline,
        schema=schema,
        card=card,
        loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        classes=list(classes)
        if classes is not None and hasattr(pipeline, "predict_proba")
        else None,
        compiled=scorer,
        scoring_path=path,
    )
