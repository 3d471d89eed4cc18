"""The universal lock: one lock valid on several targets, merged from each target's own lock.

Strategy (venvd forks per given target): each target's installation set is exactly what that target
alone resolves to (its own `Lock`, a normal cached resolution); `merge` then unites them. A
(name, version) used by every target carries no marker; one used by some carries the OR of their
markers, where a target's marker is the conjunction of the marker variables that tell the given
targets apart (`distinguishing_variables`: sys_platform, platform_machine, implementation_name,
python_version, python_full_version, ... in that order, each taken only when it separates targets
the earlier ones did not). Targets that no variable separates must resolve to the same pins
(`IndistinguishableTargets` otherwise: no marker could tell an installer which pins are its own).
Each version lists the union of its files usable on the targets that use it.

uv forks instead on the requirements' own markers over every possible environment: its lock covers
environments nobody named, and one fork may be steered by another's preferences. venvd's lock covers
exactly the given targets, each with the pins it would get alone (so an environment built from the
universal lock for one target is the same environment as a single-target request's), at the price
of one resolution per target and markers that only the given targets are sure to evaluate as meant.

JSON shape (packages sorted by name then version; ``per_target`` and a file's ``targets`` appear only
where the targets of a version differ)::

    {"id", "kind": "universal", "requirements": [...], "constraints": [...],
     "targets": [{"target": {<complete platform>}, "marker", "environment", "lock_id"}],
     "packages": [{"name", "version", "marker", "targets": [0, 2], "requires_python",
                   "dependencies", "index", "files": [{<LockedFile>, "targets"?: [0]}],
                   "per_target"?: {"2": {"dependencies": [...]}}}]}

A target's ``lock_id`` is the id of its own lock, which `UniversalLock.lock_for(i)` rebuilds
exactly (checked when a universal lock is parsed); ``environment`` is the marker describing the
target (its platform, machine, implementation and Python) for a pylock.toml's ``environments``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from venvd.errors import IndistinguishableTargets, InvalidLock
from venvd.lock import Lock, LockedFile, LockedPackage, canonical_json

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "TARGET_MARKER_VARIABLES",
    "UniversalLock",
    "UniversalPackage",
    "UniversalTarget",
    "describe_target",
    "distinguishing_variables",
    "merge",
]

# Marker variables that may tell targets apart, most telling first.
TARGET_MARKER_VARIABLES = (
    "sys_platform", "platform_machine", "implementation_name", "python_version",
    "python_full_version", "platform_python_implementation", "os_name", "platform_system",
    "implementation_version", "platform_release", "platform_version",
)
# Marker variables a target's `environment` always names (when its platform has them).
ENVIRONMENT_VARIABLES = ("sys_platform", "platform_machine", "implementation_name", "python_version")
# A package's fields that may differ between the targets of one (name, version).
_PER_TARGET_FIELDS = ("dependencies", "requires_python", "index")


@dataclasses.dataclass(frozen=True)
class UniversalTarget:
    target: dict[str, Any]  # complete platform JSON
    marker: str | None  # None: nothing tells it apart from the others (one target)
    environment: str
    lock_id: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class UniversalPackage:
    name: str
    version: str
    targets: tuple[int, ...]
    marker: str | None
    files: tuple[tuple[LockedFile, tuple[int, ...] | None], ...]  # None: every target of the package
    dependencies: tuple[str, ...] = ()
    requires_python: str | None = None
    index: str | None = None
    per_target: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def locked_files(self) -> tuple[LockedFile, ...]:
        return tuple(f for f, _ in self.files)

    def to_json(self) -> dict[str, Any]:
        files = []
        for file, targets in sorted(self.files, key=lambda f: f[0].filename):
            doc = file.to_json()
            if targets is not None:
                doc["targets"] = list(targets)
            files.append(doc)
        doc = {"name": self.name, "version": self.version, "marker": self.marker,
               "targets": list(self.targets), "requires_python": self.requires_python,
               "dependencies": sorted(self.dependencies), "index": self.index, "files": files}
        if self.per_target:
            doc["per_target"] = {str(i): _field_json(v) for i, v in sorted(self.per_target.items())}
        return doc

    def for_target(self, index: int) -> LockedPackage:
        fields: dict[str, Any] = {"dependencies": self.dependencies,
                                  "requires_python": self.requires_python, "index": self.index}
        fields.update(self.per_target.get(index, {}))
        files = tuple(f for f, targets in self.files if targets is None or index in targets)
        return LockedPackage(name=self.name, version=self.version, files=files,
                             dependencies=tuple(fields["dependencies"]),
                             requires_python=fields["requires_python"], index=fields["index"])


def _field_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: sorted(v) if k == "dependencies" else v for k, v in sorted(fields.items())}


@dataclasses.dataclass(frozen=True)
class UniversalLock:
    targets: tuple[UniversalTarget, ...]
    packages: tuple[UniversalPackage, ...]
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()

    @cached_property
    def _body(self) -> dict[str, Any]:
        return {
            "kind": "universal",
            "requirements": list(self.requirements),
            "constraints": list(self.constraints),
            "targets": [t.to_json() for t in self.targets],
            "packages": [p.to_json() for p in _sorted(self.packages)],
        }

    @cached_property
    def id(self) -> str:
        return hashlib.sha256(canonical_json(self._body)).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self._body}

    @cached_property
    def json_members(self) -> bytes:
        """`to_json()` as compact UTF-8 JSON without its closing brace, encoded once (a response
        appends its own members: see `Lock.json_members`)."""
        return json.dumps(self.to_json(), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()[:-1]

    def lock_for(self, index: int) -> Lock:
        """Target `index`'s own lock, exactly as it resolved alone (same id)."""
        return Lock(packages=tuple(p.for_target(index) for p in self.packages if index in p.targets),
                    target=self.targets[index].target, requirements=self.requirements,
                    constraints=self.constraints)

    @classmethod
    def from_json(cls, data: Any) -> UniversalLock:
        """Parse a universal JSON lock; InvalidLock naming the first thing wrong, including an `id`
        or a target's `lock_id` that does not match the contents (an edited lock)."""
        if not isinstance(data, dict) or not isinstance(data.get("targets"), list) \
                or not isinstance(data.get("packages"), list):
            raise InvalidLock("a universal lock must be a JSON object with 'targets' and "
                              "'packages' lists")
        count = len(data["targets"])
        try:
            targets = tuple(UniversalTarget(target=dict(t["target"]), marker=t.get("marker"),
                                            environment=str(t["environment"]),
                                            lock_id=str(t["lock_id"])) for t in data["targets"])
            packages = tuple(_package_from_json(p, count) for p in data["packages"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InvalidLock(f"malformed universal lock entry: {exc!r}") from None
        lock = cls(targets=targets, packages=packages,
                   requirements=_strings(data, "requirements"),
                   constraints=_strings(data, "constraints"))
        if "id" in data and data["id"] != lock.id:
            raise InvalidLock("the lock's 'id' does not match its contents (edited or corrupted)")
        for i, target in enumerate(targets):
            if lock.lock_for(i).id != target.lock_id:
                raise InvalidLock(f"the pins of target {i} do not match its 'lock_id' (edited or "
                                  "corrupted)", target=i)
        return lock


def _package_from_json(p: dict[str, Any], count: int) -> UniversalPackage:
    if not isinstance(p["targets"], list):
        raise ValueError(f"package {p.get('name')!r}: 'targets' must be a list of target indices")
    targets = tuple(int(i) for i in p["targets"])
    if not targets or any(not 0 <= i < count for i in targets):
        raise ValueError(f"package {p.get('name')!r} names a target that is not in the lock")
    files = []
    for f in p.get("files", []):
        used = f.get("targets")
        files.append((LockedFile(filename=str(f["filename"]), url=str(f["url"]),
                                 sha256=str(f["sha256"]), size=f.get("size"),
                                 upload_time=f.get("upload_time")),
                      None if used is None else tuple(int(i) for i in used)))
    per_target = {int(i): {k: (tuple(v) if k == "dependencies" else v) for k, v in fields.items()
                           if k in _PER_TARGET_FIELDS}
                  for i, fields in (p.get("per_target") or {}).items()}
    return UniversalPackage(
        name=str(p["name"]), version=str(p["version"]), targets=targets, marker=p.get("marker"),
        files=tuple(files), dependencies=tuple(str(d) for d in p.get("dependencies") or ()),
        requires_python=p.get("requires_python"), index=p.get("index"), per_target=per_target)


def _strings(data: dict[str, Any], field: str) -> tuple[str, ...]:
    value = data.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidLock(f"the lock's {field!r} must be a list of strings", field=field)
    return tuple(value)


def _sorted(packages: Sequence[UniversalPackage]) -> list[UniversalPackage]:
    from packaging.version import InvalidVersion, Version

    def key(p: UniversalPackage) -> tuple[str, Any, str]:
        try:
            return (p.name, (0, Version(p.version)), p.version)
        except InvalidVersion:
            return (p.name, (1, p.version), p.version)

    return sorted(packages, key=key)


# -- markers ----------------------------------------------------------------------------------
def distinguishing_variables(envs: Sequence[Mapping[str, str]]) -> tuple[list[str], list[list[int]]]:
    """The marker variables that tell `envs` apart (in TARGET_MARKER_VARIABLES order, each taken
    only when it splits a group the earlier ones left together), and the groups of indices they
    cannot tell apart (singletons when every env is told apart). Only variables every env has,
    with values a marker can quote, are considered."""
    groups = [list(range(len(envs)))]
    chosen: list[str] = []
    for var in TARGET_MARKER_VARIABLES:
        if all(len(g) == 1 for g in groups):
            break
        if not all(var in env and _quotable(env[var]) for env in envs):
            continue
        split: list[list[int]] = []
        for group in groups:
            by_value: dict[str, list[int]] = {}
            for i in group:
                by_value.setdefault(envs[i][var], []).append(i)
            split.extend(by_value.values())
        if len(split) > len(groups):
            chosen.append(var)
            groups = split
    return chosen, groups


def _quotable(value: str) -> bool:
    return not ('"' in value and "'" in value)


def _term(var: str, value: str) -> str:
    return f'{var} == "{value}"' if '"' not in value else f"{var} == '{value}'"


def _conjunction(env: Mapping[str, str], variables: Sequence[str]) -> str | None:
    names = [v for v in variables
             if not (v == "python_version" and "python_full_version" in variables)]
    terms = [_term(v, env[v]) for v in names]
    return " and ".join(terms) or None


def _environment(env: Mapping[str, str], chosen: Sequence[str]) -> str:
    names = [v for v in ENVIRONMENT_VARIABLES if v in env and _quotable(env[v])]
    names += [v for v in chosen if v not in names]
    return _conjunction(env, names) or 'python_version >= "0"'


def _subset_marker(used: set[int], envs: Sequence[Mapping[str, str]], chosen: Sequence[str],
                   markers: Sequence[str | None]) -> str | None:
    """The marker true on exactly the targets in `used`: one variable's values when `used` is a
    union of that variable's classes, else the OR of the targets' own markers."""
    if len(used) == len(envs):
        return None
    for var in chosen:
        values = {envs[i][var] for i in used}
        if all((envs[i][var] in values) == (i in used) for i in range(len(envs))):
            return " or ".join(_term(var, v) for v in sorted(values))
    own = sorted({m for i in used if (m := markers[i]) is not None})
    return " or ".join(f"({m})" if " and " in m and len(own) > 1 else m for m in own) or None


# -- merging ----------------------------------------------------------------------------------
def merge(locks: Sequence[Lock], describe: Sequence[str] | None = None) -> UniversalLock:
    """One universal lock from each target's own lock (same requirements and constraints, targets
    distinct); raises IndistinguishableTargets naming two targets no marker tells apart whose pins
    differ (`describe[i]` says who target i is in the message)."""
    envs = [dict(lock.target.get("marker_environment") or {}) for lock in locks]
    chosen, groups = distinguishing_variables(envs)
    pins = [{(p.name, p.version) for p in lock.packages} for lock in locks]
    for group in groups:
        for i in group[1:]:
            if pins[i] != pins[group[0]]:
                a, b = group[0], i
                who = describe or [str(n) for n in range(len(locks))]
                differ = sorted(pins[a] ^ pins[b])[:4]
                raise IndistinguishableTargets(
                    f"targets {a} ({who[a]}) and {b} ({who[b]}) resolve to different pins "
                    f"({', '.join(f'{n} {v}' for n, v in differ)}) but no marker variable tells "
                    "them apart (their marker environments are equal); lock them separately",
                    targets=[a, b])
    markers = [_conjunction(env, chosen) for env in envs]
    by_pin: dict[tuple[str, str], list[tuple[int, LockedPackage]]] = {}
    for i, lock in enumerate(locks):
        for package in lock.packages:
            by_pin.setdefault((package.name, package.version), []).append((i, package))
    packages = [_merge_package(users, envs, chosen, markers) for users in by_pin.values()]
    first = locks[0]
    universal = UniversalLock(
        targets=tuple(UniversalTarget(lock.target, markers[i], _environment(envs[i], chosen), lock.id)
                      for i, lock in enumerate(locks)),
        packages=tuple(packages), requirements=first.requirements, constraints=first.constraints)
    for i, lock in enumerate(locks):  # the merge is lossless: each target's lock comes back
        if universal.lock_for(i).id != lock.id:
            raise AssertionError(f"universal merge lost target {i}'s lock")
    return universal


def _merge_package(users: list[tuple[int, LockedPackage]], envs: Sequence[Mapping[str, str]],
                   chosen: Sequence[str], markers: Sequence[str | None]) -> UniversalPackage:
    indices = tuple(i for i, _ in users)
    common = users[0][1]
    per_target: dict[int, dict[str, Any]] = {}
    for i, package in users[1:]:
        differs = {f: getattr(package, f) for f in _PER_TARGET_FIELDS
                   if _norm(getattr(package, f)) != _norm(getattr(common, f))}
        if differs:
            per_target[i] = differs
    file_users: dict[tuple[str, str], tuple[LockedFile, list[int]]] = {}
    for i, package in users:
        for file in package.files:
            file_users.setdefault((file.url, file.sha256), (file, []))[1].append(i)
    files = tuple((file, None if len(used) == len(indices) else tuple(used))
                  for file, used in file_users.values())
    return UniversalPackage(
        name=common.name, version=common.version, targets=indices,
        marker=_subset_marker(set(indices), envs, chosen, markers), files=files,
        dependencies=common.dependencies, requires_python=common.requires_python,
        index=common.index, per_target=per_target)


def _norm(value: Any) -> Any:
    return sorted(value) if isinstance(value, tuple) else value


def describe_target(target: Mapping[str, Any]) -> str:
    """A short name for a complete platform, e.g. ``CPython 3.12.0 linux x86_64 (manylinux_2_28)``."""
    env = target.get("marker_environment") or {}
    tags = target.get("compatible_tags") or []
    text = " ".join(filter(None, [env.get("platform_python_implementation"),
                                  env.get("python_full_version"), env.get("sys_platform"),
                                  env.get("platform_machine")]))
    return f"{text}, best tag {tags[0]}" if tags else text
