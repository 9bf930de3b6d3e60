"""POST /invocations (the MLflow scoring protocol) and POST /predict (plain records)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from ml_pipeline.serving.dependencies import Service, require_token
from ml_pipeline.serving.inputs import (
    InputSchema,
    RawRows,
    RequestError,
    conform,
    parse_csv,
    parse_mlflow_json,
    parse_records_json,
)
from ml_pipeline.serving.openapi import ERROR_RESPONSES, SCORING_RESPONSE
from ml_pipeline.serving.service import ScoringService

MODEL_VERSION_HEADER = "X-Model-Version"

Parser = Callable[[bytes, InputSchema, int], RawRows]

router = APIRouter(
    dependencies=[Depends(require_token)],
    responses={**ERROR_RESPONSES, 200: SCORING_RESPONSE},
    tags=["scoring"],
)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer; counted as a client error, not a server one.
        raise RequestError(400, "the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _mlflow_parser(request: Request) -> Parser:
    media = _media_type(request)
    if media in ("", "application/json"):
        return parse_mlflow_json
    if media == "text/csv":
        return parse_csv
    raise RequestError(
        415, f"unsupported content type {media!r}: send application/json or text/csv"
    )


def _records_parser(request: Request) -> Parser:
    if _media_type(request) not in ("", "application/json"):
        raise RequestError(415, f"unsupported content type {_media_type(request)!r}: send JSON")
    return parse_records_json


async def _score(request: Request, service: ScoringService, choose: Callable) -> JSONResponse:
    started = time.perf_counter()
    endpoint = request.url.path
    model = service.watcher.model
    try:
        if model is None:
            raise RequestError(
                503, "no champion is deployed yet: run the pipeline (ml-pipeline run) first"
            )
        parse = choose(request)
        body = await read_body(request, service.max_body_bytes)
        raw = parse(body, model.schema, service.settings.max_rows)
        rows = conform(raw, model.schema)
        scored = await service.batcher.score(model, rows)
    except RequestError as error:
        version = model.version if model is not None else None
        seconds = time.perf_counter() - started
        service.record(endpoint, version, error.status, seconds, error=error.message)
        raise
    service.metrics.rows.inc(rows.count)
    seconds = time.perf_counter() - started
    service.record(endpoint, model.version, 200, seconds, rows, scored, raw=raw)
    content: dict[str, object] = {"predictions": scored.predictions, "ids": rows.ids}
    if scored.probabilities is not None:
        content["probabilities"] = scored.probabilities
    return JSONResponse(content, headers={MODEL_VERSION_HEADER: model.version})


@router.post("/invocations", summary="Score rows sent in the MLflow scoring protocol")
async def invocations(request: Request, service: Service) -> JSONResponse:
    """Accepts ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` as
    JSON, or a CSV body with a header row, exactly as ``mlflow models serve`` does."""
    return await _score(request, service, _mlflow_parser)


@router.post("/predict", summary="Score a plain JSON list of records")
async def predict(request: Request, service: Service) -> JSONResponse:
    return await _score(request, service, _records_parser)
