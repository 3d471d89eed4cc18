"""Request bodies of the HTTP API, one model per resource, and the error body every error has.

Responses are the lock / environment JSON documents. Request models refuse wrong types (422 in
venvd's error format); bounds that are settings (counts, lengths, tags) are checked by the
service before work starts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERROR_RESPONSES",
    "CompletePlatform",
    "EnvironmentBody",
    "ErrorBody",
    "Format",
    "LockBody",
    "Options",
    "ResolveBody",
    "ShorthandTarget",
]

Format = Literal["json", "requirements", "pylock"]


class ShorthandTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    python: str | None = Field(default=None, examples=["3.11", "2.7.6"])
    platform: str | None = Field(
        None, examples=["manylinux_2_28_x86_64", "linux_x86_64", "win_amd64"]
    )


class CompletePlatform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker_environment: dict[str, str]
    compatible_tags: list[str]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prereleases: bool = False
    exclude_newer: str | None = Field(default=None, examples=["2024-06-01T00:00:00Z"])
    only_binary: list[str] = Field(default_factory=list)
    no_binary: list[str] = Field(default_factory=list)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requirements: list[str] = Field(..., min_length=1, examples=[["django>=1.8", "requests>=2.7"]])
    constraints: list[str] = Field(default_factory=list)
    target: ShorthandTarget | CompletePlatform
    options: Options = Field(default_factory=lambda: Options())
    format: Format | None = None

    def target_json(self) -> dict[str, Any]:
        return self.target.model_dump(exclude_none=True)


class LockedFileBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filename: str
    url: str
    sha256: str
    size: int | None = None
    upload_time: str | None = None


class LockedPackageBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    version: str
    files: list[LockedFileBody] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    requires_python: str | None = None
    index: str | None = None


class LockBody(BaseModel):
    """A JSON lock as `POST /v1/resolve` answers it (its extra keys, such as `cached`, are
    ignored); `id`, when given, must match the contents."""

    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    target: CompletePlatform
    requirements: list[str] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    packages: list[LockedPackageBody]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class EnvironmentBody(BaseModel):
    """`POST /v1/environments`: requirements to resolve, or a lock to build, for a target."""

    model_config = ConfigDict(extra="forbid")
    requirements: list[str] | None = Field(default=None, examples=[["django>=1.8"]])
    constraints: list[str] = Field(default_factory=list)
    options: Options = Field(default_factory=lambda: Options())
    target: ShorthandTarget | CompletePlatform | Literal["current"] | None = None
    lock: LockBody | None = None

    def target_json(self) -> Any:
        if isinstance(self.target, BaseModel):
            return self.target.model_dump(exclude_none=True)
        return self.target


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
