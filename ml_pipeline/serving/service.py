"""Everything a request handler needs, built once per app and shared as a dependency."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ml_pipeline.config import PipelineConfig, ServingConfig
from ml_pipeline.core.deploy.deploy_folder import SHADOW_LINK, DeployFolderError, current_name
from ml_pipeline.core.monitor.prediction_log import LoggedRequest
from ml_pipeline.core.monitor.skew import feature_columns
from ml_pipeline.core.storage import StoragePath
from ml_pipeline.serving.batching import MicroBatcher
from ml_pipeline.serving.champion import ChampionWatcher
from ml_pipeline.serving.inputs import RawRows, Rows
from ml_pipeline.serving.log_writer import PredictionLog
from ml_pipeline.serving.metrics import ServiceMetrics
from ml_pipeline.serving.model import Scored
from ml_pipeline.serving.shadow import ShadowScorer, ShadowSettings

TOKEN_ENV_VAR = "ML_PIPELINE_API_TOKEN"
# A file holding the token: how Docker and Kubernetes secrets reach a process.
TOKEN_FILE_ENV_VAR = "ML_PIPELINE_API_TOKEN_FILE"


def token_from_environment() -> str | None:
    """The bearer token clients must send, if the operator set one: the value of
    ML_PIPELINE_API_TOKEN, or the contents of the file ML_PIPELINE_API_TOKEN_FILE names
    (surrounding whitespace dropped). Both set, an unreadable or an empty file is an
    error naming the variable, never a service without a token."""
    value = os.environ.get(TOKEN_ENV_VAR) or None
    path = os.environ.get(TOKEN_FILE_ENV_VAR) or None
    if path is None:
        return value
    if value is not None:
        raise ValueError(f"set {TOKEN_ENV_VAR} or {TOKEN_FILE_ENV_VAR}, not both")
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ValueError(f"{TOKEN_FILE_ENV_VAR}: cannot read {path}: {error.strerror}") from None
    if not token:
        raise ValueError(f"{TOKEN_FILE_ENV_VAR}: {path} is empty")
    return token


@dataclass
class ScoringService:
    settings: ServingConfig
    deploy_dir: StoragePath
    predictions_dir: StoragePath
    token: str | None
    # Local copies of the versions of a deploy folder on a storage URL.
    model_cache_dir: Path | None = None
    # The dataset's row id column: a client's ids are echoed and logged.
    id_column: str | None = None
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    watcher: ChampionWatcher = field(init=False)
    batcher: MicroBatcher = field(init=False)
    log: PredictionLog = field(init=False)
    _watch_task: asyncio.Task[None] | None = field(default=None, init=False)
    # Started once the deploy folder first holds a shadow link.
    shadow: ShadowScorer | None = field(default=None, init=False)
    _shadow_task: asyncio.Task[None] | None = field(default=None, init=False)
    _next_skew_sample: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.watcher = ChampionWatcher(
            self.deploy_dir,
            self.metrics,
            self.model_cache_dir,
            compiled=self.settings.compiled_scoring,
            id_column=self.id_column,
        )
        self.batcher = MicroBatcher(
            self.settings.max_batch_rows,
            self.settings.batch_wait_ms / 1000.0,
            self.metrics.batch_rows.observe,
        )
        self.log = PredictionLog(
            self.predictions_dir,
            self.settings.log_flush_seconds,
            on_drop=self.metrics.log_dropped.inc,
        )
        self.metrics.add_gauge(
            "ml_pipeline_model_info",
            "The model version being served (value 1)",
            ("name", "version"),
            self._model_info,
        )
        self.metrics.add_gauge(
            "ml_pipeline_shadow_requests",
            "Requests handed to the shadow version, by outcome (scored, dropped: queue full)",
            ("outcome",),
            self._shadow_counts,
        )
        self.metrics.add_gauge(
            "ml_pipeline_prediction_log_write_errors",
            "Prediction log flushes that failed",
            (),
            lambda: [((), float(self.log.write_errors))],
        )

    @classmethod
    def from_config(cls, config: PipelineConfig, token: str | None) -> ScoringService:
        return cls(
            config.serving,
            config.deploy_dir,
            config.predictions_dir,
            token,
            model_cache_dir=config.model_cache_dir,
            id_column=next(iter(config.dataset.id_columns), None),
        )

    def _shadow_counts(self) -> list[tuple[tuple[str, ...], float]]:
        if self.shadow is None:
            return []
        return [
            (("scored",), float(self.shadow.scored_requests)),
            (("dropped",), float(self.shadow.dropped)),
        ]

    def _shadow_linked(self) -> bool:
        try:
            return current_name(self.deploy_dir, SHADOW_LINK) is not None
        except (DeployFolderError, OSError):
            return False

    async def _watch_shadow(self) -> None:
        while self.shadow is None:
            if await asyncio.to_thread(self._shadow_linked):
                shadow = ShadowScorer(
                    ShadowSettings(
                        self.deploy_dir,
                        self.predictions_dir,
                        self.model_cache_dir,
                        self.settings.compiled_scoring,
                        self.id_column,
                        self.settings.poll_seconds,
                        self.settings.log_flush_seconds,
                    ),
                    self.settings.shadow_queue_requests,
                )
                await asyncio.to_thread(shadow.start)
                self.shadow = shadow
                return
            await asyncio.sleep(self.settings.poll_seconds)

    def _model_info(self) -> list[tuple[tuple[str, ...], float]]:
        model = self.watcher.model
        return [((model.name, model.version), 1.0)] if model is not None else []

    @property
    def max_body_bytes(self) -> int:
        return int(self.settings.max_body_mb * 1024 * 1024)

    def token_matches(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), self.token.encode("utf-8")
        )

    async def start(self) -> None:
        self.log.start()
        self.batcher.start()
        await asyncio.to_thread(self.watcher.check)
        loop = asyncio.get_running_loop()
        self._watch_task = loop.create_task(
            self.watcher.watch(self.settings.poll_seconds), name="champion-watcher"
        )
        self._shadow_task = loop.create_task(self._watch_shadow(), name="shadow-watcher")

    async def stop(self) -> None:
        for task in (self._watch_task, self._shadow_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.batcher.stop()
        if self.shadow is not None:
            await asyncio.to_thread(self.shadow.stop)
        await asyncio.to_thread(self.log.close)

    def record(
        self,
        endpoint: str,
        version: str | None,
        status: int,
        latency_seconds: float,
        rows: Rows | None = None,
        scored: Scored | None = None,
        error: str | None = None,
        raw: RawRows | None = None,
    ) -> None:
        """Queue one prediction log record: every scored row's id and prediction, and for
        a sample of requests their rows, as checked and as sent."""
        if self.shadow is not None and scored is not None and rows is not None:
            self.shadow.offer(endpoint, rows.count, rows.columns, rows.ids)
        sampled = (
            rows is not None
            and scored is not None
            and self.settings.log_max_rows > 0
            and random.random() < self.settings.log_sample_fraction
        )
        limit = self.settings.log_max_rows
        # The skew check's rows (as sent, and the features computed) at most once per
        # skew_sample_seconds: logged with every sample they cost 5% of 1-row throughput.
        skew = sampled and scored.features is not None and raw is not None
        if skew and (now := time.monotonic()) >= self._next_skew_sample:
            self._next_skew_sample = now + self.settings.skew_sample_seconds
        else:
            skew = False
        self.log.append(
            LoggedRequest(
                time=dt.datetime.now(dt.UTC),
                endpoint=endpoint,
                model_version=version,
                status=status,
                rows=rows.count if rows is not None else 0,
                latency_ms=latency_seconds * 1000.0,
                error=error,
                inputs=rows.head(limit) if sampled else None,
                outputs=scored.predictions[:limit] if sampled else None,
                row_ids=rows.ids if scored is not None else None,
                predictions=scored.predictions if scored is not None else None,
                probabilities=scored.probabilities if scored is not None else None,
                raw_inputs=_head(raw.columns, limit) if skew else None,
                features=feature_columns(scored.features[:limit]) if skew else None,
            )
        )


def _head(columns: dict[str, list[object]], limit: int) -> dict[str, list[object]]:
    return {name: values[:limit] for name, values in columns.items()}
