"""Tokens over HTTP, for holders of an `admin` token: list, create (the secret shown once), revoke.

The `venvd token` commands do the same on the store directly (and make the first token, which
this API cannot: it needs one).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from venvd.api._auth import AUTH_RESPONSES, requires
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service
from venvd.store import Tokens

router = APIRouter(prefix="/v1/tokens", tags=["tokens"],
                   dependencies=[Depends(requires("admin"))],
                   responses={**AUTH_RESPONSES, **{s: ERROR_RESPONSES[s] for s in (422, 500)}})


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      examples=["ci"])
    scope: Literal["read", "build", "admin"]


@router.get("", summary="The tokens (never their secrets)")
def list_tokens(service: Annotated[Service, Depends(get_service)],
                all: Annotated[bool, Query(description="Revoked tokens too")] = False,
                ) -> list[dict[str, Any]]:
    return [record.to_json() for record in Tokens(service.store).list(revoked=all)]


@router.post("", summary="Create a token; its secret is in this answer only", status_code=201,
             responses={201: {"description": "The token's record and `token`, its secret"},
                        400: ERROR_RESPONSES[400]})
def create_token(body: TokenBody, service: Annotated[Service, Depends(get_service)]) -> JSONResponse:
    """400 when an active token already has the name."""
    record, secret = Tokens(service.store).create(body.name, body.scope)
    return JSONResponse({**record.to_json(), "token": secret}, status_code=201)


@router.delete("/{name_or_id}", summary="Revoke a token by name or id",
               responses={404: ERROR_RESPONSES[404]})
def revoke_token(name_or_id: str, request: Request,
                 service: Annotated[Service, Depends(get_service)]) -> dict[str, Any]:
    """Refused at once by this node, within seconds by the others (their token cache)."""
    record = Tokens(service.store).revoke(name_or_id)
    check = getattr(request.app.state, "token_check", None)
    if check is not None:
        check.forget()
    return record.to_json()
