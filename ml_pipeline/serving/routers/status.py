"""GET /health, /ready, /model and /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ml_pipeline.serving.dependencies import Service, require_token
from ml_pipeline.serving.inputs import RequestError
from ml_pipeline.serving.openapi import ERROR_RESPONSES

router = APIRouter(tags=["status"])
guarded = APIRouter(
    dependencies=[Depends(require_token)],
    responses={401: ERROR_RESPONSES[401]},
    tags=["status"],
)


@router.get("/health", summary="The process is alive (never needs a token)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@guarded.get(
    "/ready",
    summary="A model is loaded and can score",
    responses={
        503: {
            "description": "No model is loaded yet",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def ready(service: Service) -> JSONResponse:
    model = service.watcher.model
    body: dict[str, Any] = {
        "ready": model is not None,
        "model_version": model.version if model is not None else None,
        "deploy_error": service.watcher.error,
        "prediction_log_error": service.log.last_error,
    }
    return JSONResponse(body, status_code=200 if model is not None else 503)


@guarded.get(
    "/model",
    summary="The served version: alias, trained-on partitions, holdout metrics, created",
    responses={503: ERROR_RESPONSES[503]},
)
async def model_info(service: Service) -> dict[str, Any]:
    model = service.watcher.model
    if model is None:
        raise RequestError(503, "no champion is deployed yet")
    return model.describe()


@guarded.get(
    "/metrics",
    summary="Prometheus metrics (OpenMetrics when the Accept header asks for it)",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            }
        }
    },
)
async def metrics(service: Service, request: Request) -> Response:
    body, content_type = service.metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type)
