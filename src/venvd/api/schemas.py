"""The HTTP API's bodies: the request models (shared with the in-process client, defined in
`venvd.service._bodies`) and the error body every error has.

Responses are the lock / environment JSON documents. Request models refuse wrong types (422 in
venvd's error format); bounds that are settings (counts, lengths, tags) are checked by the
service before work starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from venvd.service._bodies import (
    CompletePlatform,
    EnvironmentBody,
    Format,
    LockBody,
    ResolveBody,
    ShorthandTarget,
)
from venvd.service._request import RequestOptions

__all__ = [
    "ERROR_RESPONSES",
    "CompletePlatform",
    "EnvironmentBody",
    "ErrorBody",
    "Format",
    "LockBody",
    "RequestOptions",
    "ResolveBody",
    "ShorthandTarget",
]

class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_requirement"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Statuses by meaning, for each route's `responses=`.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Bad input (body not parseable, bad option)"),
    404: _error("A project on no index, or an unknown environment"),
    409: _error("No resolution (explained in details.causes), or a failed build"),
    413: _error("The body is larger than the max_body_bytes setting"),
    422: _error("Invalid requirement, target, lock or options, or a bound passed (details.limit)"),
    500: _error("A fault of venvd itself (details.id finds it in the server log)"),
    502: _error("An index failed"),
    503: _error("The resolution passed its wall-time budget (resolution_timeout) and was stopped"),
    504: _error("An index did not answer in time"),
}
