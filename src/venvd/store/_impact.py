"""Impact queries over what environments hold: listings, version matches, package search, graphs.

`Impact(store)` runs each call in one read transaction of the store (writes: `touch` only).

Version matching is exact: SQL narrows rows by version sort key (`key_range`, a proven superset
for every operator) and `packaging`'s ``SpecifierSet.contains(v, prereleases=True)`` decides each
remaining row in Python, so `~=`, `==X.*`, `===`, `!=`, local versions and the exclusive-ordering
rules of `<` and `>` (PEP 440) are never approximated. Pre-releases held count when in range: the
question is "what is installed", not "what would a resolver pick".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy.orm import Session

from venvd.store._graph import ENV_EDGES_CTE
from venvd.store._models import EnvironmentPackageRow, EnvironmentRow
from venvd.store._store import Store
from venvd.store._versions import in_key_range

__all__ = ["EnvironmentSummary", "Impact", "PackageHeld", "matches"]

_GRAPH_SQL = sa.text("WITH " + ENV_EDGES_CTE + "\nSELECT parent, child FROM env_edges "
                     "ORDER BY parent, child")


def matches(specifier: SpecifierSet, version: str) -> bool:
    """Whether the held `version` is in `specifier` (pre-releases included; see the module doc).
    A version that does not parse (never stored by venvd) matches nothing."""
    try:
        return specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


@dataclasses.dataclass(frozen=True)
class EnvironmentSummary:
    """One environment as listings show it; `version` is the held version of the package a
    query asked about (None otherwise); `target` the lock's complete platform (None: no lock)."""

    id: str
    roots: list[str]
    target_key: str
    target: dict[str, Any] | None
    status: str
    size: int | None
    created_at: datetime
    last_used_at: datetime | None
    version: str | None = None


@dataclasses.dataclass(frozen=True)
class PackageHeld:
    """A package some environments hold: its versions (newest first) and how many environments."""

    name: str
    versions: list[str]
    environments: int


class Impact:
    """The impact queries of one `Store` (thread-safe like the Store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def environments(self, *, package: str | None = None, specifier: SpecifierSet | None = None,
                     target: str | None = None, status: str | None = None,
                     query: str | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[list[EnvironmentSummary], int]:
        """A page of environments, newest first, and how many match in all.

        `package` (canonicalized here): only environments holding it, at a version in `specifier`
        when given (see `matches`); each summary then carries the held `version`. `target`: the
        target key or its prefix; `status`: exactly; `query`: a substring of the id or of a root
        name. Environments holding a package are matched in Python after SQL narrowed them (one
        small row per environment holding it); the others are paged by SQL.
        """
        env = EnvironmentRow
        conditions: list[Any] = []
        if target:
            conditions.append(env.target_key.startswith(target, autoescape=True))
        if status:
            conditions.append(env.status == status)
        if query:
            needle = query.lower()
            conditions.append(sa.or_(
                env.id.contains(needle, autoescape=True),
                sa.cast(env.roots, sa.Text).contains(canonicalize_name(needle), autoescape=True)))
        order = (env.created_at.desc(), env.id)
        with self._store._session() as s:
            if package is None:
                total = s.scalar(sa.select(sa.func.count()).select_from(env).where(*conditions))
                rows = s.scalars(sa.select(env).where(*conditions).order_by(*order)
                                 .limit(limit).offset(offset))
                return [_summary(row) for row in rows], int(total or 0)
            held = self._held(s, canonicalize_name(package), specifier, conditions, order)
            page = held[offset:offset + limit]
            by_id = {row.id: row for row in s.scalars(
                sa.select(env).where(env.id.in_([env_id for env_id, _ in page])))}
            return [_summary(by_id[env_id], version) for env_id, version in page], len(held)

    def _held(self, s: Session, name: str, specifier: SpecifierSet | None, conditions: list[Any],
              order: tuple[Any, ...]) -> list[tuple[str, str]]:
        """(environment id, version held) of the environments holding `name` in `specifier`."""
        pkg = EnvironmentPackageRow
        select = (sa.select(pkg.environment_id, pkg.version)
                  .join(EnvironmentRow, EnvironmentRow.id == pkg.environment_id)
                  .where(pkg.name == name, *conditions).order_by(*order))
        if specifier is not None:
            select = select.where(*in_key_range(pkg.version_key, specifier))
        return [(env_id, version) for env_id, version in s.execute(select)
                if specifier is None or matches(specifier, version)]

    def packages(self, query: str = "", limit: int = 50, *, exact: bool = False) -> list[PackageHeld]:
        """Packages held by some environment whose canonical name contains `query` (all for ""),
        or is `query` when `exact`, by name, at most `limit`."""
        pkg = EnvironmentPackageRow
        needle = canonicalize_name(query) if query.strip() else ""
        matching = pkg.name == needle if exact else pkg.name.contains(needle, autoescape=True)
        with self._store._session() as s:
            # (environment_id, name) is the key: an environment holds a name once, so count(*).
            counts = s.execute(
                sa.select(pkg.name, sa.func.count())
                .where(matching)
                .group_by(pkg.name).order_by(pkg.name).limit(limit)).all()
            names = [name for name, _ in counts]
            versions: dict[str, dict[str, str]] = {name: {} for name in names}
            if names:
                rows = s.execute(sa.select(pkg.name, pkg.version_key, pkg.version).distinct()
                                 .where(pkg.name.in_(names)))
                for name, key, version in rows:
                    # 1.0 and 1.0.0 are one version: one spelling per key, the shortest.
                    known = versions[name].get(key)
                    if known is None or (len(version), version) < (len(known), known):
                        versions[name][key] = version
        return [PackageHeld(name=name, environments=int(count),
                            versions=[versions[name][k] for k in sorted(versions[name],
                                                                        reverse=True)])
                for name, count in counts]

    def summaries(self, environment_ids: Iterable[str]) -> dict[str, EnvironmentSummary]:
        """The summaries of those of `environment_ids` that exist (one query per 500 ids)."""
        ids = sorted(set(environment_ids))
        found: dict[str, EnvironmentSummary] = {}
        with self._store._session() as s:
            for start in range(0, len(ids), 500):
                rows = s.scalars(sa.select(EnvironmentRow)
                                 .where(EnvironmentRow.id.in_(ids[start:start + 500])))
                found.update((row.id, _summary(row)) for row in rows)
        return found

    def held(self, environment_id: str) -> dict[str, str]:
        """The packages of an environment, name → version (empty when it holds none)."""
        pkg = EnvironmentPackageRow
        with self._store._session() as s:
            rows = s.execute(sa.select(pkg.name, pkg.version)
                             .where(pkg.environment_id == environment_id).order_by(pkg.name))
            return {name: version for name, version in rows}

    def edges(self, environment_id: str) -> list[tuple[str, str]]:
        """The (parent, child) dependency edges among the environment's own packages (those
        `Store.why` walks), sorted."""
        with self._store._session() as s:
            return [(parent, child) for parent, child in
                    s.execute(_GRAPH_SQL, {"environment_id": environment_id})]

    def touch(self, environment_ids: Iterable[str], now: datetime, *,
              coarser_than: timedelta) -> int:
        """Record that the environments were served at `now`, leaving alone those whose
        `last_used_at` is already within `coarser_than` of it (so racing processes write a row
        once); `updated_at` is not changed (it means build progress). How many rows changed."""
        ids = sorted(set(environment_ids))
        if not ids:
            return 0
        env = EnvironmentRow
        with self._store._session(write=True) as s:
            result = s.execute(
                sa.update(env)
                .where(env.id.in_(ids), sa.or_(env.last_used_at.is_(None),
                                               env.last_used_at < now - coarser_than))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False))
            return int(result.rowcount)  # type: ignore[attr-defined]


def _summary(row: EnvironmentRow, version: str | None = None) -> EnvironmentSummary:
    lock = row.lock if isinstance(row.lock, dict) else {}
    target = lock.get("target")
    return EnvironmentSummary(
        id=row.id, roots=list(row.roots), target_key=row.target_key,
        target=target if isinstance(target, dict) else None, status=row.status, size=row.size,
        created_at=row.created_at, last_used_at=row.last_used_at, version=version)
