"""Imported security advisories and the environments they affect.

`Advisories(store).put(...)` stores a batch in one transaction: an id is replaced only by a
document with a newer `modified` (re-importing is idempotent), and a withdrawn document with a
newer `modified` removes the stored one. `affected(...)` matches the stored intervals against what
environments hold, in SQL on version sort keys: each interval is a key range whose ends are exact
(``low <= key``, ``key < high`` or ``key <= high``), so no Python finish is needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from packaging.version import Version
from sqlalchemy.orm import Session

from venvd.store._models import AdvisoryRangeRow, AdvisoryRow, EnvironmentPackageRow
from venvd.store._store import Store
from venvd.store.versionkey import version_sort_key

__all__ = ["Advisories", "AffectedRow", "ImportCounts", "StorableAdvisory"]

# Advisory ids per IN list when reading a page's texts and fixes (well under SQLite's parameter limit).
_BATCH = 500


class _Interval(Protocol):
    @property
    def package(self) -> str: ...
    @property
    def low(self) -> Version | None: ...
    @property
    def high(self) -> Version | None: ...
    @property
    def high_inclusive(self) -> bool: ...


class StorableAdvisory(Protocol):
    """What `put` takes (`venvd.service._osv.Advisory` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def modified(self) -> datetime: ...
    @property
    def published(self) -> datetime | None: ...
    @property
    def withdrawn(self) -> bool: ...
    @property
    def summary(self) -> str: ...
    @property
    def aliases(self) -> list[str]: ...
    @property
    def intervals(self) -> Sequence[_Interval]: ...
    @property
    def document(self) -> dict[str, Any]: ...


@dataclasses.dataclass
class ImportCounts:
    imported: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class AffectedRow:
    """An environment holding `version` of `package` inside an interval of `advisory`; `fixed`:
    the lowest fixed version of the advisory for that package above the one held (None: none)."""

    advisory: str
    aliases: list[str]
    summary: str
    package: str
    version: str
    fixed: str | None
    environment_id: str


def _key(version: Version | None) -> str | None:
    return None if version is None else version_sort_key(version)


class Advisories:
    """The advisories of one `Store` (thread-safe like the Store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put(self, advisories: Iterable[StorableAdvisory], now: datetime) -> ImportCounts:
        """Store `advisories` in one transaction (see the module docstring), taking them one at a
        time as the iterable yields them (so a caller can stream a whole database through in
        bounded memory); an exception from the iterable rolls everything back. Within the batch
        too, a later document of an id replaces an earlier one only when newer. Those without a
        PyPI interval are skipped (not stored). Each id is reported once, by its last change."""
        outcome: dict[str, str] = {}
        with self._store._session(write=True) as s:
            for advisory in advisories:
                result = self._put_one(s, advisory, now)
                if result != "unchanged" or advisory.id not in outcome:
                    outcome[advisory.id] = result
                s.expunge_all()  # the identity map would keep every document of the batch
        counts = ImportCounts()
        for advisory_id in sorted(outcome):
            getattr(counts, outcome[advisory_id]).append(advisory_id)
        return counts

    @staticmethod
    def _put_one(s: Session, advisory: StorableAdvisory, now: datetime) -> str:
        advisory_id = advisory.id
        stored = s.get(AdvisoryRow, advisory_id)
        if stored is not None and stored.modified >= advisory.modified:
            return "unchanged"
        if stored is not None:
            s.execute(sa.delete(AdvisoryRangeRow).where(AdvisoryRangeRow.advisory_id == advisory_id))
            s.delete(stored)
            s.flush()
        if advisory.withdrawn or not advisory.intervals:
            return "skipped"
        s.add(AdvisoryRow(id=advisory_id, modified=advisory.modified, published=advisory.published,
                          summary=advisory.summary, aliases=list(advisory.aliases),
                          document=advisory.document, imported_at=now))
        s.flush()
        s.execute(sa.insert(AdvisoryRangeRow), [
            {"advisory_id": advisory_id, "package": i.package,
             "low": None if i.low is None else str(i.low), "low_key": _key(i.low),
             "high": None if i.high is None else str(i.high), "high_key": _key(i.high),
             "high_inclusive": i.high_inclusive}
            for i in advisory.intervals])
        return "imported"

    def count(self) -> int:
        with self._store._session() as s:
            return int(s.scalar(sa.select(sa.func.count()).select_from(AdvisoryRow)) or 0)

    def affected(self, *, package: str | None = None, advisory: str | None = None,
                 limit: int = 1000, offset: int = 0) -> tuple[list[AffectedRow], int]:
        """(advisory, package, environment) triples where the environment holds an affected
        version, ordered by advisory, package, environment id; a page and the total. `advisory`
        matches an id or an alias."""
        r, a, p = AdvisoryRangeRow, AdvisoryRow, EnvironmentPackageRow
        inside = sa.and_(
            p.name == r.package,
            sa.or_(r.low_key.is_(None), p.version_key >= r.low_key),
            sa.or_(r.high_key.is_(None), p.version_key < r.high_key,
                   sa.and_(r.high_inclusive, p.version_key == r.high_key)))
        conditions: list[Any] = []
        if package is not None:
            conditions.append(r.package == package)
        if advisory is not None:
            conditions.append(sa.or_(
                a.id == advisory,
                sa.cast(a.aliases, sa.Text).contains(f'"{advisory}"', autoescape=True)))
        triples = (sa.select(a.id.label("advisory"), r.package.label("package"),
                             p.environment_id.label("environment_id"),
                             p.version.label("version"), p.version_key.label("version_key"))
                   .select_from(r).join(a, a.id == r.advisory_id).join(p, inside)
                   .where(*conditions).distinct().subquery())
        with self._store._session() as s:
            total = int(s.scalar(sa.select(sa.func.count()).select_from(triples)) or 0)
            rows = s.execute(sa.select(triples).order_by(
                triples.c.advisory, triples.c.package, triples.c.environment_id)
                .limit(limit).offset(offset)).all()
            pairs = sorted({(row.advisory, row.package) for row in rows})
            fixes: dict[tuple[str, str], list[tuple[str, str]]] = {pair: [] for pair in pairs}
            info: dict[str, tuple[list[str], str]] = {}
            ids = sorted({pair[0] for pair in pairs})
            # Two reads per batch of advisories (not the documents): their texts and fixes.
            for start in range(0, len(ids), _BATCH):
                batch = ids[start:start + _BATCH]
                for stored in s.execute(sa.select(a.id, a.aliases, a.summary).where(a.id.in_(batch))):
                    info[stored.id] = (list(stored.aliases), stored.summary)
                for fix in s.execute(sa.select(r.advisory_id, r.package, r.high, r.high_key).where(
                        r.advisory_id.in_(batch), r.high_inclusive.is_(False),
                        r.high_key.is_not(None))):
                    if (fix.advisory_id, fix.package) in fixes:
                        fixes[(fix.advisory_id, fix.package)].append((fix.high_key, fix.high))
        found = []
        for row in rows:
            if row.advisory not in info:  # removed by a re-import between the two reads
                continue
            above = sorted(f for f in fixes[(row.advisory, row.package)] if f[0] > row.version_key)
            aliases, summary = info[row.advisory]
            found.append(AffectedRow(advisory=row.advisory, aliases=aliases, summary=summary,
                                     package=row.package, version=row.version,
                                     fixed=above[0][1] if above else None,
                                     environment_id=row.environment_id))
        return found, total
