"""The lock: exactly pinned packages with hashes, for one target.

JSON shape (names canonical, packages sorted by name, files sorted by filename)::

    {"id": "...", "target": {<complete platform>}, "requirements": [...], "constraints": [...],
     "packages": [{"name", "version", "requires_python", "dependencies": [...], "index",
                   "files": [{"filename", "url", "sha256", "size", "upload_time"}]}]}

`id` is the sha256 of the canonical JSON of everything else, so two locks with the same id pin the same
files for the same target.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import cached_property
from typing import Any

from venvd.errors import InvalidLock

__all__ = ["Lock", "LockedFile", "LockedPackage", "canonical_json"]


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no whitespace) for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclasses.dataclass(frozen=True)
class LockedFile:
    filename: str
    url: str
    sha256: str
    size: int | None = None
    upload_time: str | None = None  # RFC 3339, as the index gave it

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    files: tuple[LockedFile, ...]
    dependencies: tuple[str, ...] = ()
    requires_python: str | None = None
    index: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "requires_python": self.requires_python,
            "dependencies": sorted(self.dependencies),
            "index": self.index,
            "files": [f.to_json() for f in sorted(self.files, key=lambda f: f.filename)],
        }


@dataclasses.dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    target: dict[str, Any]
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()

    @cached_property
    def _cached_body(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "requirements": list(self.requirements),
            "constraints": list(self.constraints),
            "packages": [p.to_json() for p in sorted(self.packages, key=lambda p: p.name)],
        }

    def _body(self) -> dict[str, Any]:
        # A Lock is immutable, so its JSON and id are computed once (a cache hit serves them as is).
        return dict(self._cached_body)

    @cached_property
    def id(self) -> str:
        return hashlib.sha256(canonical_json(self._cached_body)).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self._cached_body}

    @cached_property
    def json_members(self) -> bytes:
        """`to_json()` as compact UTF-8 JSON without its closing brace, encoded once: a response
        that adds members of its own appends them (a cache hit then encodes only those)."""
        return json.dumps(self.to_json(), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()[:-1]

    def package(self, name: str) -> LockedPackage | None:
        return next((p for p in self.packages if p.name == name), None)

    @classmethod
    def from_json(cls, data: Any) -> Lock:
        """Parse a JSON lock; raises InvalidLock naming the first thing that is wrong."""
        if not isinstance(data, dict) or not isinstance(data.get("packages"), list):
            raise InvalidLock("a lock must be a JSON object with a 'packages' list")
        packages = []
        try:
            for p in data["packages"]:
                files = tuple(
                    LockedFile(
                        filename=str(f["filename"]),
                        url=str(f["url"]),
                        sha256=str(f["sha256"]),
                        size=f.get("size"),
                        upload_time=f.get("upload_time"),
                    )
                    for f in p.get("files", [])
                )
                packages.append(
                    LockedPackage(
                        name=str(p["name"]),
                        version=str(p["version"]),
                        files=files,
                        dependencies=_strings(p, "dependencies"),
                        requires_python=p.get("requires_python"),
                        index=p.get("index"),
                    )
                )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidLock(f"malformed lock package entry: {exc!r}") from None
        target = data.get("target")
        if not isinstance(target, dict):
            raise InvalidLock("a lock must carry its 'target' (a complete platform object)")
        lock = cls(
            packages=tuple(packages),
            target=target,
            requirements=_strings(data, "requirements"),
            constraints=_strings(data, "constraints"),
        )
        if "id" in data and data["id"] != lock.id:
            raise InvalidLock("the lock's 'id' does not match its contents (edited or corrupted)")
        return lock


def _strings(data: dict[str, Any], field: str) -> tuple[str, ...]:
    """`data[field]` as a tuple of strings (missing or null: empty); InvalidLock for anything else
    (a bare string would otherwise be read as its characters)."""
    value = data.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidLock(f"the lock's {field!r} must be a list of strings", field=field)
    return tuple(value)
