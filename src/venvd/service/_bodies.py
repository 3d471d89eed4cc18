"""Request bodies, one model per resource, shared by the HTTP API and the in-process client.

The API declares them as its bodies (FastAPI validates, and documents them in OpenAPI); the
in-process client validates its dicts with `parse_body`, which fails as the API answers: an
`InvalidRequest` (422) listing the problems. Their `options` are the service's own
`RequestOptions`. Bounds that are settings (counts, lengths, tags) are checked by the service
before work starts.

Both bodies take an input document as an alternative to `requirements` (`DocumentBody`:
``{"document": {"kind", "text", "name", "extras", "all_extras", "groups",
"skip_conda_packages"}}``): a requirements file, a conda environment.yml or a pyproject.toml is
read into the body's requirements, constraints and options when the body is validated (its
``python=3.X`` becomes the target's Python, its ``requires-python`` is checked against the target);
a pylock.toml (environments only) becomes the body's lock for the target in `to_service`. A
server takes no index option or nested file from a client's document
(`venvd.inputs.refuse_for_server`), direct references only from the URL prefixes it allows
(`check_direct_references`); ``--hash`` pins narrow the resolved lock to the pinned files
(`restrict_result`, and `to_service`'s ``pinned``), as pip's hash-checking mode does. Errors are
`InvalidDocument` (422) naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from venvd.errors import InputError, InvalidRequest
from venvd.service._request import RequestOptions
from venvd.target import Target, target_from_request

if TYPE_CHECKING:
    from venvd.service._resolve import ResolveResult

__all__ = [
    "CompletePlatform",
    "DocumentBody",
    "EnvironmentBody",
    "Format",
    "LockBody",
    "ResolveBody",
    "ShorthandTarget",
    "TestsBody",
    "UniversalLockBody",
    "check_direct_references",
    "invalid_request",
    "parse_body",
    "restrict_result",
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


DocumentKind = Literal["requirements.txt", "environment.yml", "pyproject.toml", "pylock.toml"]


class DocumentBody(BaseModel):
    """An input document, as its text: `kind` (else found from `name` and the text), `name` (the
    file name errors show), and what to take from it: `extras` / `all_extras` and `groups` (a
    pyproject.toml's, or a pylock.toml's; for a pylock, null groups mean its default groups),
    `skip_conda_packages` (an environment.yml's conda packages left out instead of refused)."""

    model_config = ConfigDict(extra="forbid")
    kind: DocumentKind | None = Field(default=None, examples=["environment.yml"])
    text: str = Field(..., examples=["name: web\ndependencies:\n  - python=3.11\n  - pip:\n"
                                     "    - django>=4\n"])
    name: str | None = Field(default=None, max_length=255, examples=["environment.yml"])
    extras: list[str] = Field(default_factory=list, max_length=100)
    all_extras: bool = False
    groups: list[str] | None = Field(default=None, max_length=100)
    skip_conda_packages: bool = False

    def parse(self) -> Any:
        """The `venvd.inputs.Document` this text is, with nothing a server may not take from a
        client (InvalidDocument naming the line)."""
        from venvd.inputs import parse_document, refuse_for_server

        doc = parse_document(self.text, kind=self.kind, file=self.name,
                             extras=self.extras, all_extras=self.all_extras,
                             groups=self.groups or (), skip_conda_packages=self.skip_conda_packages)
        refuse_for_server(doc)
        return doc


def _document_headers(label: str | None, notes: list[str]) -> dict[str, str]:
    headers = {}
    if label:  # ASCII: header values are Latin-1 and one line
        headers["X-Venvd-Document-Label"] = json.dumps(label)[1:-1]
    if notes:
        headers["X-Venvd-Document-Notices"] = json.dumps(notes)
    return headers


def _apply_document(body: ResolveBody | EnvironmentBody, document: DocumentBody) -> Any:
    """Fill `body`'s requirements, constraints, options and target Python from `document`; the
    parsed document. A pylock.toml is left for `EnvironmentBody.to_service`."""
    from venvd.inputs import check_python

    doc = document.parse()
    body._label = doc.label
    body._notes = [*doc.warnings, *doc.notices]
    if doc.lock is not None:
        return doc
    body._direct = list(doc.direct)
    body._kind = doc.kind
    body._pinned = doc if doc.hash_checking else None
    if body.requirements:
        raise InputError("give either 'requirements' or 'document', not both", field="document")
    if not doc.requirements:
        raise doc.error("lists no requirements")
    body.requirements = list(doc.requirements)
    body.constraints = [*doc.constraints, *body.constraints]
    extra = doc.options()
    if extra:
        merged = body.options.to_json()
        merged["prereleases"] = merged["prereleases"] or extra.get("prereleases", False)
        for key in ("only_binary", "no_binary"):
            merged[key] = [*merged[key], *extra.get(key, [])]
        body.options = RequestOptions.from_json(merged)
    targets = getattr(body, "targets", None)
    if targets is not None and doc.hash_checking:
        first = next(iter(doc.hash_origins.values()), None)
        raise doc.error("--hash pins narrow the lock of one target: resolve each target alone "
                        "(give 'target', not 'targets')", first.line if first else None)
    if targets is not None:  # a universal lock: the document's Python for each target
        for each in targets:
            if doc.python is not None and isinstance(each, ShorthandTarget) and each.python is None:
                each.python = doc.python
            check_python(doc, _python_of(each))
        return doc
    target = body.target
    if doc.python is not None and (target is None or isinstance(target, ShorthandTarget)):
        if target is None:
            body.target = ShorthandTarget(python=doc.python, platform=None)
        elif target.python is None:
            target.python = doc.python
    check_python(doc, _python_of(body.target))
    return doc


def check_direct_references(body: ResolveBody | EnvironmentBody,
                            prefixes: tuple[str, ...]) -> None:
    """Refuse a direct reference of the body's document whose URL this server does not fetch
    (`prefixes`: its direct_url_prefixes), naming the document's line (InvalidDocument); those
    given as `requirements` are refused naming the requirement, when the request is made."""
    if not body._direct:
        return
    from packaging.requirements import Requirement

    from venvd.errors import InvalidDocument
    from venvd.inputs import DirectURLPolicy, parse_direct

    policy = DirectURLPolicy(prefixes)
    for text, where in body._direct:
        # The document's reader checked its form already.
        problem = policy.problem(parse_direct(Requirement(text)).url)
        if problem is not None:
            raise InvalidDocument(f"direct reference {text!r} not taken: {problem}",
                                  file=where.file, line=where.line, kind=body._kind)


def restrict_result(body: ResolveBody, result: ResolveResult) -> ResolveResult:
    """`result` (a ResolveResult) with its lock narrowed to the files the body's document pins
    with ``--hash`` (pip's hash-checking mode, `venvd.inputs.restrict_to_hashes`): unchanged for a
    document without pins. InvalidDocument naming the package (and its pin's line) that has no
    pin or no pinned file."""
    if body._pinned is None:
        return result
    import dataclasses

    from venvd.inputs import restrict_to_hashes
    from venvd.lock import Lock

    lock = Lock.from_json(restrict_to_hashes(result.lock.to_json(), body._pinned))
    return dataclasses.replace(result, lock=lock)


def _python_of(target: Any) -> str:
    """python_full_version of a body's target (shorthand, complete, "current" or None)."""
    if isinstance(target, CompletePlatform):
        return target.marker_environment.get("python_full_version", "")
    if isinstance(target, ShorthandTarget):
        target = target.model_dump(exclude_none=True)
    return str(target_from_request(target).python_full_version)


class ResolveBody(BaseModel):
    """`POST /v1/resolve`: requirements (or a `document` listing them) to resolve for a target,
    or for several (`targets`: one universal lock valid on each of them)."""

    model_config = ConfigDict(extra="forbid")
    requirements: list[str] = Field(default_factory=list,
                                    examples=[["django>=1.8", "requests>=2.7"]])
    constraints: list[str] = Field(default_factory=list)
    target: ShorthandTarget | CompletePlatform | None = None
    targets: list[ShorthandTarget | CompletePlatform] | None = Field(
        default=None, description="Several targets (instead of `target`): one universal lock, "
        "at most `max_targets` of them", examples=[[{"python": "3.12", "platform": "win_amd64"},
                                                    {"python": "3.12", "platform": "linux_x86_64"}]])
    options: RequestOptions = Field(default_factory=lambda: RequestOptions())
    format: Format | None = None
    document: DocumentBody | None = None
    # The document's direct references (text, provenance) and kind, for errors naming the line.
    _direct: list[Any] = PrivateAttr(default_factory=list)
    _kind: str | None = PrivateAttr(default=None)
    # The document, when its --hash pins put it in pip's hash-checking mode (`restrict_result`).
    _pinned: Any = PrivateAttr(default=None)
    # The document's label and what its reader says a user should read (`document_headers`).
    _label: str | None = PrivateAttr(default=None)
    _notes: list[str] = PrivateAttr(default_factory=list)

    def document_headers(self) -> dict[str, str]:
        """Response headers telling what the posted document's reader noticed: its label
        (`X-Venvd-Document-Label`, conda's ``name`` or pyproject's project name) and its warnings
        and notices (`X-Venvd-Document-Notices`, a JSON array): what was ignored or left out."""
        return _document_headers(self._label, self._notes)

    @model_validator(mode="after")
    def _read_document(self) -> ResolveBody:
        if self.document is None:
            if not self.requirements:
                raise ValueError("'requirements' must list at least one requirement "
                                 "(or give a 'document')")
            return self
        doc = _apply_document(self, self.document)
        if doc.lock is not None:
            raise doc.error("a pylock.toml is already a lock: POST it to /v1/environments")
        return self

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


_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class TestsBody(BaseModel):
    """Tests run in the built environment (a conda recipe's `test:` section): modules to import
    and shell commands to run, in this order; part of the environment's identity."""

    model_config = ConfigDict(extra="forbid")
    imports: list[Annotated[str, StringConstraints(pattern=_MODULE, max_length=200)]] = Field(
        default_factory=list, max_length=50, examples=[["requests", "yaml"]])
    commands: list[Annotated[str, StringConstraints(min_length=1, max_length=1_000)]] = Field(
        default_factory=list, max_length=20, examples=[["tool-hello --version"]])

    def to_json(self) -> dict[str, list[str]] | None:
        """The tests as the service takes them; None when there are none."""
        if not self.imports and not self.commands:
            return None
        return {"imports": list(self.imports), "commands": list(self.commands)}


class EnvironmentBody(BaseModel):
    """`POST /v1/environments`: requirements (or a `document`) to resolve, or a lock (or a
    pylock.toml `document`) to build, for a target; `tests` to run in it once built."""

    model_config = ConfigDict(extra="forbid")
    requirements: list[str] | None = Field(default=None, examples=[["django>=1.8"]])
    constraints: list[str] = Field(default_factory=list)
    options: RequestOptions = Field(default_factory=lambda: RequestOptions())
    target: ShorthandTarget | CompletePlatform | Literal["current"] | None = None
    lock: LockBody | UniversalLockBody | None = None
    document: DocumentBody | None = None
    tests: TestsBody | None = None
    _pylock: Any = PrivateAttr(default=None)
    _direct: list[Any] = PrivateAttr(default_factory=list)  # as ResolveBody's
    _kind: str | None = PrivateAttr(default=None)
    _pinned: Any = PrivateAttr(default=None)
    # The document's label and what its reader says a user should read (`document_headers`).
    _label: str | None = PrivateAttr(default=None)
    _notes: list[str] = PrivateAttr(default_factory=list)

    def document_headers(self) -> dict[str, str]:
        """Response headers telling what the posted document's reader noticed: its label
        (`X-Venvd-Document-Label`, conda's ``name`` or pyproject's project name) and its warnings
        and notices (`X-Venvd-Document-Notices`, a JSON array): what was ignored or left out."""
        return _document_headers(self._label, self._notes)

    @model_validator(mode="after")
    def _read_document(self) -> EnvironmentBody:
        if self.document is None:
            return self
        if self.lock is not None:
            raise InputError("give either 'lock' or 'document', not both", field="document")
        doc = _apply_document(self, self.document)
        if doc.lock is not None:
            if self.requirements:
                raise InputError("give either 'requirements' or a pylock.toml 'document'",
                                 field="document")
            self._pylock = doc
        return self

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

    def to_service(self, max_tags: int, direct_url_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
        """What `EnvironmentService.create_from_json` takes: the lock and options as JSON, the
        target parsed. InputError when neither requirements nor a lock is given; InvalidDocument
        naming the line of a document's direct reference whose URL is not under
        `direct_url_prefixes`."""
        if self.requirements is None and self.lock is None and self._pylock is None:
            raise InputError("give either 'requirements', 'lock' or 'document'", field="body")
        check_direct_references(self, direct_url_prefixes)
        data: dict[str, Any] = {"constraints": list(self.constraints),
                                "options": self.options.to_json()}
        if self.requirements is not None:
            data["requirements"] = list(self.requirements)
            if self._pinned is not None:  # the resolved lock is narrowed to the pinned files
                data["pinned"] = self._pinned
        if self.lock is not None:
            data["lock"] = self.lock.to_json()
        data["target"] = self.parsed_target(max_tags)
        tests = self.tests.to_json() if self.tests is not None else None
        if tests is not None:
            data["tests"] = tests
        if self._pylock is not None:
            from venvd.inputs import pylock_to_lock

            document = self.document
            assert document is not None
            data["lock"] = pylock_to_lock(self._pylock, data["target"], extras=document.extras,
                                          all_extras=document.all_extras, groups=document.groups,
                                          text=document.text)
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
