"""A resolution request, validated and in canonical form; its hash is the resolution cache key."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from packaging.requirements import InvalidRequirement as _PackagingInvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from venvd.errors import InputError, InvalidRequirement, LimitExceeded
from venvd.lock import canonical_json
from venvd.target import Target

__all__ = ["RequestLimits", "RequestOptions", "ResolveRequest", "parse_requirement", "parse_timestamp"]

# Bump when the meaning of a cached resolution changes (resolver rules, lock format).
RESOLUTION_FORMAT = "resolutions-v1"


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Bounds on one request, checked before any work (the service fills them from its settings)."""

    max_requirements: int = 1_000
    max_constraints: int = 2_000
    max_requirement_length: int = 1_000
    # URL prefixes of the direct references this server fetches (canonical; none: refused).
    direct_url_prefixes: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> RequestLimits:
        return cls(settings.max_requirements, settings.max_constraints,
                   settings.max_requirement_length,
                   tuple(getattr(settings, "direct_url_prefixes", ()) or ()))

    def check(self, requirements: Any, constraints: Any) -> tuple[list[str], list[str]]:
        """The two lists, once checked: lists of strings (a single string is not a list of
        requirements: "six" would be read as s, i, x) within the counts and lengths; raises
        InputError or LimitExceeded naming the field and the bound."""
        reqs = _strings(requirements, "requirements")
        cons = _strings(constraints, "constraints")
        for field, items, limit, setting in (
            ("requirements", reqs, self.max_requirements, "max_requirements"),
            ("constraints", cons, self.max_constraints, "max_constraints"),
        ):
            if len(items) > limit:
                raise LimitExceeded(
                    f"{len(items)} {field} given, more than the {limit} allowed (the {setting} "
                    "setting)", limit=setting, max=limit, actual=len(items), field=field)
            for item in items:
                if len(item) > self.max_requirement_length:
                    raise LimitExceeded(
                        f"one of the {field} is {len(item)} characters long, more than the "
                        f"{self.max_requirement_length} allowed (the max_requirement_length setting)",
                        limit="max_requirement_length", max=self.max_requirement_length,
                        actual=len(item), field=field)
        return reqs, cons


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InputError(f"'{field}' must be a list of strings, not {type(value).__name__}",
                         field=field)
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise InputError(f"'{field}' must be a list of strings; {bad[0]!r} is not a string",
                         field=field)
    return list(value)


def parse_requirement(text: str, direct_url_prefixes: tuple[str, ...] = ()) -> Requirement:
    """Parse one PEP 508 requirement; raises InvalidRequirement naming the text. A direct
    reference (``name @ URL``) is taken only in hashed form (``#sha256=``) from a URL starting with
    one of `direct_url_prefixes` (see `venvd.inputs.DirectURLPolicy`); its URL is then canonical
    (lower-case host and hash)."""
    if not isinstance(text, str):
        raise InvalidRequirement(repr(text), "a requirement must be a string")
    stripped = text.strip()
    if not stripped:
        raise InvalidRequirement(text, "empty requirement")
    try:
        req = Requirement(stripped)
    except _PackagingInvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "not a PEP 508 requirement"
        raise InvalidRequirement(stripped, reason) from None
    if req.url:
        from venvd.inputs import DirectError, DirectURLPolicy, parse_direct

        try:
            reference = parse_direct(req)
        except DirectError as exc:
            raise InvalidRequirement(stripped, f"direct reference: {exc}") from None
        problem = DirectURLPolicy(direct_url_prefixes).problem(reference.url)
        if problem is not None:
            raise InvalidRequirement(stripped, f"direct reference not taken: {problem}")
        req.url = reference.hashed_url
    return req


def _canonical_requirement(req: Requirement) -> str:
    """One spelling per meaning: canonical name, sorted extras, normalized specifier and marker."""
    extras = f"[{','.join(sorted(canonicalize_name(e) for e in req.extras))}]" if req.extras else ""
    spec = ",".join(sorted(str(s) for s in req.specifier))
    marker = f"; {req.marker}" if req.marker else ""
    if req.url:  # the URL and its hash are the request (parse_requirement made them canonical)
        return f"{canonicalize_name(req.name)}{extras} @ {req.url}{' ' if marker else ''}{marker}"
    return f"{canonicalize_name(req.name)}{extras}{spec}{marker}"


def parse_timestamp(value: str | datetime | None) -> datetime | None:
    """An RFC 3339 timestamp or a date (YYYY-MM-DD, meaning its start, UTC); InputError when neither."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or len(value) > 64:
        raise InputError(f"exclude_newer {str(value)[:64]!r} is not an RFC 3339 timestamp or a date",
                         field="exclude_newer")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC, as every comparison will have it: 9999-12-31T23:59:59-23:59 is past year 9999.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InputError(
            f"exclude_newer {value!r} is not an RFC 3339 timestamp or a date between years 1 "
            "and 9999 (UTC)", field="exclude_newer"
        ) from None


def _names(value: Any) -> frozenset[str]:
    """`only_binary` / `no_binary`: a list of project names (each may be comma-separated, as pip
    takes them), ":all:" or ":none:"; canonical names, ":all:" kept, ":none:" dropped."""
    if isinstance(value, frozenset):
        return value
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of project names (strings)")
    out = set()
    for item in value:
        for part in item.split(","):
            part = part.strip()
            if part and part != ":none:":
                out.add(part if part == ":all:" else canonicalize_name(part))
    return frozenset(out)


def _timestamp(value: Any) -> datetime | None:
    if value is not None and not isinstance(value, (str, datetime)):
        raise ValueError("must be an RFC 3339 timestamp or a date (a string)")
    return parse_timestamp(value)  # InputError (400) naming exclude_newer when it is neither


# On the wire as the JSON the client sends (the OpenAPI document shows that); in Python, the
# canonical values validation makes of it.
_Names = Annotated[frozenset[str], BeforeValidator(_names),
                   WithJsonSchema({"items": {"type": "string"}, "type": "array"})]
_Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp),
                       WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})]


# One options model for every caller: the `options` of the HTTP API's bodies and of the
# in-process client's, and what the service resolves with. Validation makes them canonical (names
# canonicalized, exclude_newer an aware UTC datetime), so equal meanings are equal values, and
# `to_json()` is their part of the resolution key. The resolver takes its own `ResolveOptions`,
# built from these, because the resolver layer never imports the service.
class RequestOptions(BaseModel):
    """Options of a resolution: pre-releases, the newest upload time considered, and the
    projects (or ":all:") limited to wheels (`only_binary`) or to sdists (`no_binary`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prereleases: bool = False
    prerelease: Literal["pep440", "disallow", "allow", "if-necessary", "explicit",
                        "if-necessary-or-explicit"] = Field(
        default="pep440", description="Pre-release policy: PEP 440 as pip applies it (default), or "
        "one of uv's modes; `prereleases: true` means allow")
    exclude_newer: _Timestamp = Field(default=None, examples=["2024-06-01T00:00:00Z"])
    only_binary: _Names = Field(default_factory=frozenset)
    no_binary: _Names = Field(default_factory=frozenset)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RequestOptions:
        """Validate `data` as the API does; InvalidRequest (422) naming the bad option, or
        InputError (400) for an exclude_newer that is no timestamp."""
        from venvd.service._bodies import parse_body

        return parse_body(cls, data or {}, where="options")

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "prereleases": self.prereleases,
            "exclude_newer": self.exclude_newer.isoformat() if self.exclude_newer else None,
            "only_binary": sorted(self.only_binary),
            "no_binary": sorted(self.no_binary),
        }
        if self.prerelease != "pep440":  # absent by default: keys made before it stay valid
            doc["prerelease"] = self.prerelease
        return doc


@dataclasses.dataclass(frozen=True)
class ResolveRequest:
    requirements: tuple[Requirement, ...]
    constraints: tuple[Requirement, ...]
    target: Target
    options: RequestOptions
    index: Mapping[str, Any]  # IndexConfig.to_json() of the service answering it

    @classmethod
    def create(
        cls,
        requirements: Iterable[str],
        target: Target,
        *,
        constraints: Iterable[str] = (),
        options: RequestOptions | None = None,
        index: Mapping[str, Any] | None = None,
        limits: RequestLimits | None = None,
    ) -> ResolveRequest:
        """Validate and canonicalize; raises InputError (LimitExceeded past `limits`) naming the
        bad part, before any parsing work past the bounds."""
        req_texts, con_texts = (limits or RequestLimits()).check(
            requirements if isinstance(requirements, (str, list, tuple)) else list(requirements),
            constraints if isinstance(constraints, (str, list, tuple)) else list(constraints))
        prefixes = (limits or RequestLimits()).direct_url_prefixes
        reqs = tuple(parse_requirement(r, prefixes) for r in req_texts)
        if not reqs:
            raise InputError("no requirements given", field="requirements")
        cons = tuple(parse_requirement(c, prefixes) for c in con_texts)
        for c in cons:
            if c.extras:
                raise InvalidRequirement(str(c), "constraints cannot name extras")
            if c.url:
                raise InvalidRequirement(str(c), "a constraint cannot be a direct reference "
                                         "(name @ URL): give it as a requirement")
        return cls(reqs, cons, target, options or RequestOptions(), dict(index or {}))

    def canonical(self) -> dict[str, Any]:
        return {**self.canonical_without_target(), "target": self.target.to_json()}

    @functools.cached_property
    def key(self) -> str:
        """sha256 of `canonical_json(self.canonical())`, computed without serializing the target
        each time: its part (hundreds of tags, most of a cache hit's cost) is the target's own
        `canonical_json`, serialized once per target. "target" sorts last among the canonical
        keys, so the canonical bytes are the other keys' object, its closing brace replaced by the
        target member."""
        doc = self.canonical_without_target()
        head = canonical_json(doc)
        digest = hashlib.sha256(head[:-1])
        digest.update(b',"target":')
        digest.update(self.target.canonical_json)
        digest.update(b"}")
        return digest.hexdigest()

    def canonical_without_target(self) -> dict[str, Any]:
        # Every key sorts before "target" (see `key`).
        return {
            "format": RESOLUTION_FORMAT,
            "requirements": sorted({_canonical_requirement(r) for r in self.requirements}),
            "constraints": sorted({_canonical_requirement(c) for c in self.constraints}),
            "options": self.options.to_json(),
            "index": dict(self.index),
        }

