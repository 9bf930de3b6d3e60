"""Follow the deployed champion and swap a new version in without a restart.

A new version is loaded and scored on its own input example in a worker
thread while the old one keeps serving; only then is the reference replaced,
in one assignment. A version that fails to load is reported, never served,
and not retried until the deployment changes again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from pathlib import Path

from ml_pipeline.core.crashpoints import crash_point
from ml_pipeline.core.deploy.deploy_folder import CURRENT_LINK
from ml_pipeline.core.storage import StoragePath
from ml_pipeline.serving.batching import MODEL_INPUT_ERRORS
from ml_pipeline.serving.inputs import conform, parse_mlflow_json
from ml_pipeline.serving.metrics import ServiceMetrics
from ml_pipeline.serving.model import (
    ModelSourceError,
    ServedModel,
    current_version_dir,
    load_served_model,
)

LOGGER = logging.getLogger(__name__)
INPUT_EXAMPLE = "serving_input_example.json"


def _warm_up(model: ServedModel) -> ServedModel:
    """Score the model's own input example, so a broken export is never swapped in; the
    model to serve, without its compiled path if that scores the example differently."""
    example = model.path / INPUT_EXAMPLE
    if not example.is_file():
        return model
    try:
        raw = parse_mlflow_json(example.read_bytes(), model.schema, max_rows=10_000)
        rows = conform(raw, model.schema)
        scored = model.score(rows)
        if model.compiled is None:
            return model
        plain = dataclasses.replace(model, compiled=None)
        expected = plain.score(rows)
    except MODEL_INPUT_ERRORS as error:  # RequestError is a ValueError
        raise ModelSourceError(f"{model.path}: fails on its own input example: {error}") from None
    if scored == expected:
        return model
    return dataclasses.replace(
        plain, scoring_path="scikit-learn pipeline (the compiled path differs on the input example)"
    )


def _freeze_heap() -> None:
    """Keep the long-lived heap (libraries, the model) out of the cyclic collector's scans.

    Full collections over the millions of objects MLflow, pandas and a model create
    paused scoring often enough to double the p99 latency under load. Unfreezing
    first lets the collector free the model that was just swapped out.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ChampionWatcher:
    def __init__(
        self,
        deploy_dir: StoragePath,
        metrics: ServiceMetrics,
        cache_dir: Path | None = None,
        compiled: bool = True,
        id_column: str | None = None,
        link: str = CURRENT_LINK,
    ):
        self.deploy_dir = deploy_dir
        self.id_column = id_column
        self.link = link
        self.compiled = compiled
        self.cache_dir = cache_dir
        self.metrics = metrics
        self.model: ServedModel | None = None
        self.error: str | None = None
        self._failed: Path | None = None

    def check(self) -> bool:
        """Load and swap in the deployed version if it changed; True if it did. Blocking."""
        try:
            target = current_version_dir(self.deploy_dir, self.cache_dir, self.link)
        except ModelSourceError as error:
            self._report(None, str(error))
            return False
        serving = self.model.path if self.model is not None else None
        if target is not None and target == serving:
            self.error = None
        if target is None and self.model is not None and self.link != CURRENT_LINK:
            # The shadow link was taken away: nothing is shadowed any more.
            self.model, self.error, self._failed = None, None, None
            return True
        if target is None or target in (serving, self._failed):
            return False
        try:
            candidate = load_served_model(target, self.compiled, self.id_column)
            if self.model is not None:
                crash_point("hot_swap")
            candidate = _warm_up(candidate)
        except Exception as error:
            # Whatever broke the new version, the old one goes on serving.
            self._report(target, f"{target.name}: {type(error).__name__}: {error}")
            return False
        self.model, self.error, self._failed = candidate, None, None
        _freeze_heap()
        self.metrics.model_loads.inc()
        LOGGER.info("serving %s version %s from %s", candidate.name, candidate.version, target)
        return True

    def _report(self, target: Path | None, message: str) -> None:
        if message != self.error:
            LOGGER.error("cannot serve the deployed model: %s", message)
            self.metrics.load_failures.inc()
        self.error, self._failed = message, target

    async def watch(self, poll_seconds: float) -> None:
        while True:
            await asyncio.to_thread(self.check)
            await asyncio.sleep(poll_seconds)
