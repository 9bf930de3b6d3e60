"""Request dependencies: the shared service, and the bearer-token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ml_pipeline.serving.inputs import RequestError
from ml_pipeline.serving.service import TOKEN_ENV_VAR, ScoringService

# auto_error=False: the service answers 401 itself, with the MLflow error body.
_bearer = HTTPBearer(auto_error=False, description=f"the value of {TOKEN_ENV_VAR}, if set")


# Both are async although they never await: FastAPI runs a plain ``def`` dependency in
# its thread pool, two thread hand-offs per request for nothing.
async def get_service(request: Request) -> ScoringService:
    return request.app.state.service


Service = Annotated[ScoringService, Depends(get_service)]


async def require_token(
    service: Service,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    presented = credentials.credentials if credentials is not None else None
    if not service.token_matches(presented):
        raise RequestError(401, "send the API token as 'Authorization: Bearer <token>'")
