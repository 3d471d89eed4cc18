"""`ImpactService` (`Service.impact`): which environments hold what, and why.

The API routers, the CLI and the web pages call these methods; each returns plain JSON-ready
dicts (datetimes as ISO 8601 strings) and raises `InvalidRequest` (422) for a bad argument, naming
it in ``details.problems``, or `NotFound` (404) for an unknown environment or a package it does not
hold.

    list_environments(package=None, specifier=None, target=None, status=None, query=None,
                      limit=50, offset=0)
        -> {"items": [ENV, ...], "total", "limit", "offset"}, newest first.
           ENV = {"id", "roots", "target": {"key", "label"}, "status", "size", "created",
                  "last_used"} (+ "version" held, when `package` was given).
           `package` + `specifier` (a PEP 440 specifier text or SpecifierSet): environments holding
           a matching version (pre-releases count when in range); `target`: a target key or its
           prefix; `status`: queued|building|ready|failed; `query`: substring of id or root name.
    environments_with(name, specifier="", limit=50, offset=0)
        -> {"package", "specifier", "items": [ENV + "version"], "total", "limit", "offset"}
    why(env_id, name)
        -> {"environment", "package", "version", "paths": [[root, ..., name], ...]}: the shortest
           dependency chains from each root that reaches the package (see `Store.why`); a
           package that is a root and that no other root pulls in has the path [name].
    packages(query="", limit=50)
        -> {"items": [{"name", "versions": [newest first], "environments"}, ...]}
    graph(env_id)
        -> {"environment", "nodes": [{"name", "version", "is_root"}], "edges": [{"parent",
           "child"}]}: the environment's packages and the dependency edges among them.
    used(env_id)
        records that the environment was served (`last_used`), at most once per `touch_seconds`
        per environment and process, and once per interval across processes.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name

from venvd.errors import InvalidRequest, NotFound
from venvd.store import EnvironmentSummary, Impact, PackageHeld, Store

__all__ = ["MAX_PAGE", "ImpactService", "environment_json", "package_name", "parse_query",
           "target_label"]

MAX_PAGE = 500  # items per page at most: one page is one bounded read
_MAX_TEXT = 200  # characters of a filter at most
_STATUSES = ("queued", "building", "ready", "failed")
_REMEMBERED = 10_000  # environments whose last touch this process remembers (then it forgets all)


def _bad(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {problem}", problems=[{"field": field, "problem": problem}])


def package_name(name: str, field: str = "package") -> str:
    """`name` canonicalized; InvalidRequest naming `field` when it is no valid project name."""
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise _bad(field, f"{name[:_MAX_TEXT]!r} is not a valid project name") from None


def _specifier(text: str | SpecifierSet | None) -> SpecifierSet | None:
    if text is None or isinstance(text, SpecifierSet):
        return text
    if len(text) > _MAX_TEXT:
        raise _bad("specifier", f"longer than {_MAX_TEXT} characters")
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise _bad("specifier", f"{text!r} is not a PEP 440 version specifier") from None


def parse_query(text: str) -> tuple[str, SpecifierSet]:
    """``'urllib3<2.0.7'`` → (canonical name, specifier); a requirement with extras, a marker or
    a URL is refused (InvalidRequest naming "query")."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]  # packaging adds lines drawing the position
        raise _bad("query", f"{text[:_MAX_TEXT]!r} is not NAME[SPECIFIER]: {reason}") from None
    if requirement.extras or requirement.marker or requirement.url:
        raise _bad("query", f"{text!r}: give a name and a version specifier only")
    return canonicalize_name(requirement.name), requirement.specifier


def target_label(target: dict[str, Any] | None, key: str) -> str:
    """A short human name of a target: its first tag's interpreter and platform
    (``cp311 manylinux_2_28_x86_64``), else its marker environment, else the key's start."""
    if target:
        tags = target.get("compatible_tags") or []
        if tags and isinstance(tags[0], str) and tags[0].count("-") == 2:
            interpreter, _, platform = tags[0].split("-")
            return f"{interpreter} {platform}"
        env = target.get("marker_environment") or {}
        parts = [env.get(k) for k in ("implementation_name", "python_full_version",
                                      "sys_platform", "platform_machine")]
        if any(parts):
            return " ".join(str(p) for p in parts if p)
    return key[:12]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def environment_json(summary: EnvironmentSummary) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": summary.id,
        "roots": summary.roots,
        "target": {"key": summary.target_key,
                   "label": target_label(summary.target, summary.target_key)},
        "status": summary.status,
        "size": summary.size,
        "created": _iso(summary.created_at),
        "last_used": _iso(summary.last_used_at),
    }
    if summary.version is not None:
        doc["version"] = summary.version
    return doc


class ImpactService:
    """Impact queries over one store (thread-safe)."""

    def __init__(self, store: Store, *, touch_seconds: float = 60.0) -> None:
        self._store = store
        self._impact = Impact(store)
        self._touch_seconds = touch_seconds
        self._touched: dict[str, float] = {}  # env id -> monotonic time of this process's write
        self._lock = threading.Lock()

    @staticmethod
    def _page(limit: int, offset: int) -> None:
        if not 1 <= limit <= MAX_PAGE:
            raise _bad("limit", f"must be 1 to {MAX_PAGE}, not {limit}")
        if offset < 0:
            raise _bad("offset", f"must be 0 or more, not {offset}")

    def list_environments(self, package: str | None = None,
                          specifier: str | SpecifierSet | None = None, target: str | None = None,
                          status: str | None = None, query: str | None = None, limit: int = 50,
                          offset: int = 0) -> dict[str, Any]:
        self._page(limit, offset)
        spec = _specifier(specifier or None)
        if spec is not None and package is None:
            raise _bad("specifier", "needs a package")
        if status and status not in _STATUSES:
            raise _bad("status", f"{status[:_MAX_TEXT]!r} is not one of {', '.join(_STATUSES)}")
        for field, value in (("target", target), ("query", query)):
            if value and len(value) > _MAX_TEXT:
                raise _bad(field, f"longer than {_MAX_TEXT} characters")
        items, total = self._impact.environments(
            package=package_name(package) if package else None, specifier=spec, target=target or None,
            status=status or None, query=query or None, limit=limit, offset=offset)
        return {"items": [environment_json(item) for item in items], "total": total,
                "limit": limit, "offset": offset}

    def environments_with(self, name: str, specifier: str | SpecifierSet | None = "",
                          limit: int = 50, offset: int = 0) -> dict[str, Any]:
        page = self.list_environments(package=package_name(name), specifier=specifier or None,
                                      limit=limit, offset=offset)
        return {"package": package_name(name), "specifier": str(_specifier(specifier or None) or ""),
                **page}

    def _environment(self, env_id: str) -> Any:
        record = self._store.get_environment(env_id)
        if record is None:
            raise NotFound(f"no environment with id {env_id!r}", id=env_id)
        return record

    def why(self, env_id: str, name: str) -> dict[str, Any]:
        package = package_name(name)
        self._environment(env_id)
        version = self._impact.held(env_id).get(package)
        if version is None:
            raise NotFound(f"environment {env_id} does not hold {package}", id=env_id,
                           package=package)
        return {"environment": env_id, "package": package, "version": version,
                "paths": self._store.why(env_id, package)}

    def packages(self, query: str = "", limit: int = 50) -> dict[str, Any]:
        self._page(limit, 0)
        if len(query) > _MAX_TEXT:
            raise _bad("q", f"longer than {_MAX_TEXT} characters")
        return {"items": [_package_json(p) for p in self._impact.packages(query, limit)]}

    def package(self, name: str) -> dict[str, Any] | None:
        """The package named `name` as `packages` lists it (versions held, environments), or None
        when no environment holds it."""
        found = self._impact.packages(name, 1, exact=True)
        return _package_json(found[0]) if found else None

    def graph(self, env_id: str) -> dict[str, Any]:
        record = self._environment(env_id)
        held = self._impact.held(env_id)
        roots = set(record.roots)
        return {
            "environment": env_id,
            "nodes": [{"name": name, "version": version, "is_root": name in roots}
                      for name, version in held.items()],
            "edges": [{"parent": parent, "child": child}
                      for parent, child in self._impact.edges(env_id)],
        }

    def used(self, env_id: str) -> None:
        """See the module docstring; never raises for a store failure (serving matters more)."""
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(env_id)
            if last is not None and now - last < self._touch_seconds:
                return
            if len(self._touched) >= _REMEMBERED:
                self._touched.clear()
            self._touched[env_id] = now
        try:
            self._impact.touch([env_id], datetime.now(UTC),
                               coarser_than=timedelta(seconds=self._touch_seconds))
        except Exception:  # a busy SQLite, a lost connection: the next use tries again
            import logging

            logging.getLogger("venvd.service").warning(
                "recording the use of environment %s failed", env_id, exc_info=True)
            with self._lock:
                self._touched.pop(env_id, None)


def _package_json(package: PackageHeld) -> dict[str, Any]:
    return {"name": package.name, "versions": package.versions, "environments": package.environments}
