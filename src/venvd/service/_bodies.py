"""Request bodies, one model per resource, shared by the HTTP API and the in-process client.

The API declares them as its bodies (FastAPI validates, and documents them in OpenAPI); the
in-process client validates its dicts with `parse_body`, which fails as the API answers: an
`InvalidRequest` (422) listing the problems. Their `options` are the service's own
`RequestOptions`. Bounds that are settings (counts, lengths, tags) are checked by the service
before work starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from venvd.errors import InputError, InvalidRequest
from venvd.service._request import RequestOptions
from venvd.target import Target, target_from_request

__all__ = [
    "CompletePlatform",
    "EnvironmentBody",
    "Format",
    "LockBody",
    "ResolveBody",
    "ShorthandTarget",
    "UniversalLockBody",
    "invalid_request",
    "parse_body",
]

Format = Literal["json", "requirements", "pylock"]
Body = TypeVar("Body", bound=BaseModel)


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


class ResolveBody(BaseModel):
    """`POST /v1/resolve`: requirements to resolve for a target, or for several (`targets`: one
    universal lock valid on each of them)."""

    model_config = ConfigDict(extra="forbid")
    requirements: list[str] = Field(..., min_length=1, examples=[["django>=1.8", "requests>=2.7"]])
    constraints: list[str] = Field(default_factory=list)
    target: ShorthandTarget | CompletePlatform | None = None
    targets: list[ShorthandTarget | CompletePlatform] | None = Field(
        default=None, description="Several targets (instead of `target`): one universal lock, "
        "at most `max_targets` of them", examples=[[{"python": "3.12", "platform": "win_amd64"},
                                                    {"python": "3.12", "platform": "linux_x86_64"}]])
    options: RequestOptions = Field(default_factory=lambda: RequestOptions())
    format: Format | None = None

    @model_validator(mode="after")
    def _one_of_target_and_targets(self) -> ResolveBody:
        if (self.target is None) == (self.targets is None):
            raise ValueError("give either 'target' (one target) or 'targets' (a universal lock for "
                             "several), not both" if self.target is not None else
                             "give 'target' (or 'targets', a list of targets)")
        return self

    def target_json(self) -> dict[str, Any]:
        if self.target is None:
            raise InputError("this request has 'targets': resolve it with resolve_universal",
                             field="targets")
        return self.target.model_dump(exclude_none=True)

    def targets_json(self) -> list[dict[str, Any]]:
        return [t.model_dump(exclude_none=True) for t in self.targets or ()]


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


class UniversalLockBody(BaseModel):
    """A universal JSON lock as `POST /v1/resolve` answers it for `targets` (checked in full by
    `UniversalLock.from_json`)."""

    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    kind: Literal["universal"] = "universal"
    targets: list[dict[str, Any]]
    requirements: list[str] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    packages: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class EnvironmentBody(BaseModel):
    """`POST /v1/environments`: requirements to resolve, or a lock to build, for a target."""

    model_config = ConfigDict(extra="forbid")
    requirements: list[str] | None = Field(default=None, examples=[["django>=1.8"]])
    constraints: list[str] = Field(default_factory=list)
    options: RequestOptions = Field(default_factory=lambda: RequestOptions())
    target: ShorthandTarget | CompletePlatform | Literal["current"] | None = None
    lock: LockBody | UniversalLockBody | None = None

    def target_json(self) -> Any:
        if isinstance(self.target, BaseModel):
            return self.target.model_dump(exclude_none=True)
        return self.target

    def parsed_target(self, max_tags: int) -> Target | None:
        """The target asked for, else the lock's (within `max_tags` tags; InvalidTarget); None for
        a universal lock without one (the service picks the lock's only target, or refuses)."""
        if self.target is None and isinstance(self.lock, UniversalLockBody):
            return None
        given = self.target_json() if self.target is not None else (
            self.lock.target.model_dump() if isinstance(self.lock, LockBody) else None)
        return target_from_request(given, max_tags=max_tags)

    def to_service(self, max_tags: int) -> dict[str, Any]:
        """What `EnvironmentService.create_from_json` takes: the lock and options as JSON, the
        target parsed. InputError when neither requirements nor a lock is given."""
        if self.requirements is None and self.lock is None:
            raise InputError("give either 'requirements' or 'lock'", field="body")
        data: dict[str, Any] = {"constraints": list(self.constraints),
                                "options": self.options.to_json()}
        if self.requirements is not None:
            data["requirements"] = list(self.requirements)
        if self.lock is not None:
            data["lock"] = self.lock.to_json()
        data["target"] = self.parsed_target(max_tags)
        return data


def parse_body(model: type[Body], data: Any, *, where: str = "") -> Body:
    """`data` validated as `model` (an instance of it is returned as is); InvalidRequest (422)
    listing the problems, as the HTTP API answers a body that does not validate. `where`
    prefixes the fields named (``options``)."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(exc.errors(), where=where) from None


def invalid_request(errors: Iterable[Any], *, where: str = "") -> InvalidRequest:
    """The one error for a body that does not validate: its first problem in the message, up to
    20 `{"field", "problem"}` in ``details.problems``."""
    problems = [_problem(err, where) for err in errors][:20]
    first = problems[0] if problems else {"field": where or "body", "problem": "invalid"}
    return InvalidRequest(f"invalid request: {first['field']}: {first['problem']}",
                          problems=problems)


def _problem(err: Any, where: str) -> dict[str, str]:
    parts = [where] if where else []
    parts += [str(p) for p in err.get("loc", ()) if p != "body"]
    field = ".".join(parts) or "body"
    problem = str(err.get("msg", "invalid"))
    if err.get("type") == "json_invalid":
        field, problem = "body", f"not valid JSON ({err.get('ctx', {}).get('error', 'malformed')})"
    return {"field": field, "problem": problem}
