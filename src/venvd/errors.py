"""The one error tree of venvd.

Every failure that a user can cause or meet is one of these; each is mapped once to an HTTP status
(`http_status`) and once to a CLI exit code (`exit_code`), and carries the data that explains it.

    VenvdError
    ├── InputError                      bad input: HTTP 400/422, exit 2
    │   ├── InvalidRequirement          .requirement
    │   ├── InvalidTarget               .detail
    │   │   └── IndistinguishableTargets  no marker tells apart targets that resolve differently: 422
    │   ├── InvalidLock
    │   ├── InvalidDocument             an input file (requirements, environment.yml, pyproject, pylock):
    │   │                               422 (.file, .line)
    │   ├── IncompatibleInterpreter     the target does not match the interpreter that will run the venv
    │   ├── InvalidRequest              the body is not valid JSON or not of the documented shape: 422
    │   ├── InvalidUpload               an uploaded file is not a valid wheel/sdist, or disagrees
    │   │                               with its metadata, digest or the size bound: 400 (.filename)
    │   ├── LimitExceeded               a bound on the work of one request was passed: 422 (.limit, .max)
    │   │   └── RequestTooLarge         the body is larger than max_body_bytes: 413
    │   ├── MethodNotAllowed            HTTP 405
    │   └── NotAcceptable               no media type the client accepts is served: HTTP 406
    ├── ProjectNotFound                 a requested project is on no index: HTTP 404, exit 1
    ├── ResolutionImpossible            no set of pins satisfies the request: HTTP 409, exit 1 (.causes)
    ├── NoCompatibleDistribution        a pin has no file usable on the target: HTTP 409, exit 1
    ├── BuildError                      an environment could not be built: HTTP 409, exit 1
    │   │                               (.package, .step, .log_tail)
    │   ├── NoSpaceLeft                 a disk or the object store was full: HTTP 507, exit 3
    │   └── TestsFailed                 a test of the request failed in the built environment: HTTP 409
    │                                   (.test, .output_tail)
    ├── UploadConflict                  an upload would replace a file, or shadow an upstream
    │                                   project the private index may not shadow: HTTP 409, exit 1
    ├── NotFound                        an unknown resource id (environment, artifact): HTTP 404, exit 1
    ├── NotReady                        the environment is not built (yet, or failed): HTTP 409, exit 1
    ├── ResolutionTimeout               a resolution passed its wall-time budget and was stopped: HTTP 503
    ├── InternalError                   a fault of venvd itself: HTTP 500 (the log has it by `details.id`)
    ├── UpstreamError                   an index failed us: HTTP 502, exit 3 (.url, .project)
    │   ├── UpstreamTimeout             HTTP 504
    │   └── HashMismatch                downloaded bytes did not match the expected sha256
    └── AccessDenied                    the request may not do this: exit 4
        ├── Unauthorized                no token, or an unknown or revoked one: HTTP 401
        └── Forbidden                   the token's scope does not allow this route: HTTP 403 (.needed)

`error_class(code)` finds the class of each `code`, so a client rebuilds the most specific error.

Expected misses (a project absent from one index, a cache miss) are return values, not exceptions.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDenied",
    "BuildError",
    "Forbidden",
    "HashMismatch",
    "IncompatibleInterpreter",
    "IndistinguishableTargets",
    "InputError",
    "InternalError",
    "InvalidDocument",
    "InvalidLock",
    "InvalidRequest",
    "InvalidRequirement",
    "InvalidTarget",
    "InvalidUpload",
    "LimitExceeded",
    "MethodNotAllowed",
    "NoCompatibleDistribution",
    "NoSpaceLeft",
    "NotAcceptable",
    "NotFound",
    "NotReady",
    "ProjectNotFound",
    "RequestTooLarge",
    "ResolutionImpossible",
    "ResolutionTimeout",
    "TestsFailed",
    "Unauthorized",
    "UploadConflict",
    "UpstreamError",
    "UpstreamTimeout",
    "VenvdError",
    "error_class",
]


class VenvdError(Exception):
    """Base of all venvd errors: a message for people, a code and details for programs."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InputError(VenvdError):
    code = "bad_input"
    http_status = 400
    exit_code = 2


class InvalidRequirement(InputError):
    code = "invalid_requirement"
    http_status = 422

    def __init__(self, requirement: str, reason: str) -> None:
        super().__init__(f"invalid requirement {requirement!r}: {reason}", requirement=requirement)
        self.requirement = requirement


class InvalidTarget(InputError):
    code = "invalid_target"
    http_status = 422


class IndistinguishableTargets(InvalidTarget):
    """Targets of one universal lock that no marker variable tells apart resolved to different
    pins (``details.targets``: their indices)."""

    code = "indistinguishable_targets"


class InvalidLock(InputError):
    code = "invalid_lock"
    http_status = 422


class InvalidDocument(InputError):
    """An input document (requirements.txt, environment.yml, pyproject.toml, pylock.toml) that
    cannot be taken: the message starts with ``FILE:LINE:`` where the line is known;
    ``details`` has ``file``, ``line`` (when known) and ``kind``."""

    code = "invalid_document"
    http_status = 422

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 kind: str | None = None, **details: Any) -> None:
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(where + message, file=file, line=line, kind=kind, **details)
        self.file = file
        self.line = line


class IncompatibleInterpreter(InputError):
    code = "incompatible_interpreter"


class ProjectNotFound(VenvdError):
    code = "project_not_found"
    http_status = 404

    def __init__(self, project: str, indexes: list[str] | None = None) -> None:
        where = ", ".join(indexes) if indexes else "the configured indexes"
        super().__init__(
            f"project {project!r} was not found on {where}", project=project, indexes=indexes
        )
        self.project = project


class ResolutionImpossible(VenvdError):
    """No pins satisfy the request. ``causes`` are human-readable requirement chains."""

    code = "resolution_impossible"
    http_status = 409

    def __init__(self, message: str, causes: list[str]) -> None:
        super().__init__(message, causes=causes)
        self.causes = causes


class NoCompatibleDistribution(VenvdError):
    code = "no_compatible_distribution"
    http_status = 409

    def __init__(self, message: str, package: str | None = None) -> None:
        super().__init__(message, package=package)
        self.package = package


class BuildError(VenvdError):
    code = "build_failed"
    http_status = 409

    def __init__(
        self,
        message: str,
        package: str | None = None,
        step: str | None = None,
        log_tail: str | None = None,
    ) -> None:
        super().__init__(message, package=package, step=step, log_tail=log_tail)
        self.package = package
        self.step = step
        self.log_tail = log_tail


class TestsFailed(BuildError):
    """A test the request carried (an import or a command) failed in the built environment."""

    code = "tests_failed"

    def __init__(self, message: str, test: str | None = None, kind: str | None = None,
                 returncode: int | None = None, output_tail: str | None = None) -> None:
        super().__init__(message, step="tests", log_tail=output_tail)
        self.details.update({k: v for k, v in (("test", test), ("kind", kind),
                                               ("returncode", returncode),
                                               ("output_tail", output_tail)) if v is not None})


class InvalidUpload(InputError):
    """An uploaded distribution was refused before anything was stored (details: `filename`,
    `problem`)."""

    code = "invalid_upload"
    http_status = 400


class UploadConflict(VenvdError):
    """An upload would replace a file a private index holds (never done), or take a project name
    that exists upstream without the index being allowed to shadow it (details: `index`,
    `filename` or `project`)."""

    code = "upload_conflict"
    http_status = 409


class NotFound(VenvdError):
    code = "not_found"
    http_status = 404


class NotReady(VenvdError):
    """What was asked for needs the environment's build, which is queued, running or failed
    (details: `id`, `status`)."""

    code = "not_ready"
    http_status = 409


class UpstreamError(VenvdError):
    code = "upstream_error"
    http_status = 502
    exit_code = 3

    def __init__(self, message: str, url: str | None = None, project: str | None = None) -> None:
        super().__init__(message, url=url, project=project)
        self.url = url
        self.project = project


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    http_status = 504


class HashMismatch(UpstreamError):
    code = "hash_mismatch"


class InvalidRequest(InputError):
    """The body is not valid JSON (or not UTF-8, or nested too deep) or not of the documented
    shape; ``details.problems`` lists ``{"field", "problem"}``."""

    code = "invalid_request"
    http_status = 422


class LimitExceeded(InputError):
    """A request passed one of the bounds on its work (a setting): ``details`` names the
    ``limit`` (the setting's name), its ``max`` and the ``actual`` size when known."""

    code = "limit_exceeded"
    http_status = 422

    def __init__(self, message: str, *, limit: str, max: int | float, actual: int | float | None = None,
                 **details: Any) -> None:
        super().__init__(message, limit=limit, max=max, actual=actual, **details)
        self.limit = limit
        self.max = max
        self.actual = actual


class RequestTooLarge(LimitExceeded):
    code = "request_too_large"
    http_status = 413


class MethodNotAllowed(InputError):
    code = "method_not_allowed"
    http_status = 405


class NotAcceptable(InputError):
    """No representation the client accepts (Accept, `?format=`) is served; ``details.offered``
    lists the media types that are."""

    code = "not_acceptable"
    http_status = 406


class ResolutionTimeout(VenvdError):
    """A resolution ran past its wall-time budget (``details.budget`` seconds) and was stopped."""

    code = "resolution_timeout"
    http_status = 503
    exit_code = 3

    def __init__(self, message: str, budget: float) -> None:
        super().__init__(message, budget=budget)
        self.budget = budget


class InternalError(VenvdError):
    """A fault of venvd itself; the message never carries the exception's text, ``details.id``
    finds it in the server's log."""

    code = "internal_error"
    http_status = 500
    exit_code = 3


class AccessDenied(VenvdError):
    """The request may not do this: its exit code (4) is its own, so that scripts tell "fix the
    token" from "fix the input" (2) and "try again later" (3)."""

    code = "access_denied"
    http_status = 403
    exit_code = 4


class Unauthorized(AccessDenied):
    """No bearer token, or one the server does not know or has revoked (HTTP 401, answered with
    ``WWW-Authenticate: Bearer``)."""

    code = "unauthorized"
    http_status = 401


class Forbidden(AccessDenied):
    """The token is valid but its scope does not allow this route; ``details.needed`` names the
    scope it needs and ``details.scope`` the token's."""

    code = "forbidden"
    http_status = 403


class NoSpaceLeft(BuildError):
    """A build or an upload ran out of space (ENOSPC, a full object store); ``details.step`` says
    where. Nothing half-written stays; the next request builds again (once space is back)."""

    code = "no_space"
    http_status = 507
    exit_code = 3


def error_class(code: str) -> type[VenvdError] | None:
    """The class whose `code` is `code`, searched in the whole tree (so classes added anywhere
    in it count), or None for a code this version does not know."""
    pending: list[type[VenvdError]] = [VenvdError]
    while pending:
        cls = pending.pop()
        if cls.__dict__.get("code") == code or (cls is VenvdError and code == cls.code):
            return cls
        pending.extend(cls.__subclasses__())
    return None
