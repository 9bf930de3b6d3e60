"""The scoring web service: ``create_app`` builds it, ``serve`` runs it on uvicorn."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ml_pipeline.config import PipelineConfig
from ml_pipeline.serving.inputs import RequestError
from ml_pipeline.serving.metrics import ServiceMetrics
from ml_pipeline.serving.openapi import install_openapi
from ml_pipeline.serving.routers import scoring, status
from ml_pipeline.serving.service import ScoringService

ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_PARAMETER_VALUE",
    503: "NO_MODEL",
}


class MetricsMiddleware:
    """Counts every request and times it, labelled by route (unknown paths as "other")."""

    def __init__(self, app: Any, metrics: ServiceMetrics, endpoints: set[str]):
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in self.endpoints else "other"
            code = str(status_code)
            self.metrics.requests.labels(endpoint, code).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            if status_code >= 400:
                self.metrics.errors.labels(endpoint, code).inc()


def _request_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestError)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(
        {"error_code": ERROR_CODES.get(error.status, "BAD_REQUEST"), "message": error.message},
        status_code=error.status,
        headers=headers,
    )


def create_app(config: PipelineConfig, token: str | None = None) -> FastAPI:
    service = ScoringService.from_config(config, token)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="ml_pipeline scoring service",
        version="1",
        description="Scores rows with the deployed champion. "
        "POST /invocations speaks the MLflow scoring protocol.",
        lifespan=lifespan,
    )
    app.state.service = service
    routers = [scoring.router, status.router, status.guarded]
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(RequestError, _request_error)
    endpoints = {route.path for router in routers for route in router.routes}
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, endpoints=endpoints)

    def current_schema() -> Any:
        model = service.watcher.model
        return model.schema if model is not None else None

    install_openapi(app, current_schema, config.serving.max_rows)
    return app


def serve(config: PipelineConfig, host: str, port: int, token: str | None) -> None:
    """Run the service until interrupted; SIGINT or SIGTERM drain requests, then flush the log."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run(
        create_app(config, token),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
