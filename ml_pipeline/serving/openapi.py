"""The OpenAPI document: request bodies described from the served model's signature.

Handlers read their bodies themselves (to enforce the size limit while reading
and to answer in MLflow's error format), so the request schemas are added
here. They follow the model: after a swap, ``/openapi.json`` and ``/docs``
describe the new champion's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ml_pipeline.serving.inputs import MLFLOW_FORMATS, InputSchema

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not valid JSON, CSV or MLflow protocol"),
    401: _error("The API token is missing or wrong"),
    413: _error("The body or the number of rows exceeds the configured limit"),
    415: _error("The content type is not JSON (or CSV for /invocations)"),
    422: _error("A column is missing, of the wrong type, or null where it must not be"),
    503: _error("No champion is deployed yet"),
}

SCORING_RESPONSE = {
    "description": ("One prediction and id per row; probabilities per class for classifiers"),
    "headers": {"X-Model-Version": {"schema": {"type": "string"}}},
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "predictions": {"type": "array"},
                    "ids": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": (
                            "One id per row: the row's id column as sent, else one the "
                            "service made; send it back with the row's label"
                        ),
                    },
                    "probabilities": {
                        "type": "array",
                        "items": {"type": "object", "additionalProperties": {"type": "number"}},
                    },
                },
                "required": ["predictions", "ids"],
            }
        }
    },
}


def _rows(record: dict[str, Any], max_rows: int) -> dict[str, Any]:
    return {"type": "array", "items": record, "minItems": 1, "maxItems": max_rows}


def _only(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: schema},
        "required": [key],
        "additionalProperties": False,
    }


def _split_schema(record: dict[str, Any], max_rows: int) -> dict[str, Any]:
    """``dataframe_split`` in its canonical form: the model's columns in signature order.

    The service also takes other column orders and extra columns; JSON Schema cannot
    tie each row's length to ``columns``, so the document names the one exact form.
    """
    names = [n for n, spec in record.get("properties", {}).items() if "type" in spec]
    cells = [record["properties"][name] for name in names]
    return {
        "type": "object",
        "properties": {
            "columns": {"const": names},
            "data": {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": cells,
                    "minItems": len(cells),
                    "maxItems": len(cells),
                },
                "minItems": 1,
                "maxItems": max_rows,
            },
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }


def request_bodies(schema: InputSchema | None, max_rows: int) -> dict[str, dict[str, Any]]:
    """Request bodies of the scoring routes for a model with input ``schema``."""
    record = schema.record_json_schema() if schema is not None else {"type": "object"}
    split = _split_schema(record, max_rows)
    formats = [_only("dataframe_split", split)] + [
        _only(key, _rows(record, max_rows)) for key in MLFLOW_FORMATS[1:]
    ]
    return {
        "/invocations": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": formats}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "/predict": {
            "required": True,
            "content": {"application/json": {"schema": _rows(record, max_rows)}},
        },
    }


def install_openapi(
    app: FastAPI, current_schema: Callable[[], InputSchema | None], max_rows: int
) -> None:
    # The schema object the cached document describes, and the document.
    cache: list[Any] = [None, None]

    def openapi() -> dict[str, Any]:
        schema = current_schema()
        if cache[1] is None or cache[0] is not schema:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path, body in request_bodies(schema, max_rows).items():
                document["paths"][path]["post"]["requestBody"] = body
            cache[:] = [schema, document]
        return cache[1]

    app.openapi = openapi  # type: ignore[method-assign]
