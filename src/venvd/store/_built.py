"""The rows of the wheels built from sdists: record one (first build wins), look a page's up.

Only the records live here; the bytes are in the builders' cache and object store
(``built-v1/<sdist sha256>/<build key>/``), published before their row is added, so a row names
bytes that exist (until cache GC collects them: then a builder builds them again, byte for byte
or not, and a reader checks the size and hash it is given).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import UTC, datetime

import sqlalchemy as sa

from venvd.store._models import BuiltWheelRow
from venvd.store._store import Store

__all__ = ["BuiltWheel", "BuiltWheels"]

# Sdists looked up per query: a parameter list this long is within every dialect's limits, and a
# page rarely lists more sdists than this.
_CHUNK = 500


@dataclasses.dataclass(frozen=True)
class BuiltWheel:
    """The wheel built from the sdist `sdist_sha256` by the interpreter `build_key`."""

    sdist_sha256: str
    build_key: str
    filename: str
    sha256: str
    size: int
    requires_python: str | None
    metadata_sha256: str | None  # of the wheel's METADATA bytes; None when it has none readable
    built_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_row(cls, row: BuiltWheelRow) -> BuiltWheel:
        return cls(sdist_sha256=row.sdist_sha256, build_key=row.build_key, filename=row.filename,
                   sha256=row.sha256, size=row.size, requires_python=row.requires_python,
                   metadata_sha256=row.metadata_sha256, built_at=row.built_at)


class BuiltWheels:
    """The built wheels of one `Store` (thread-safe like the Store: a transaction per call)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, wheel: BuiltWheel, *, replace: bool = False) -> None:
        """Record `wheel` unless its (sdist, build key) has a row already (a concurrent build on
        another worker: the first row stays), or with `replace` in place of that row (a build
        that used another wheel for the pair: builds need not be reproducible, and the last one
        shared is what the object store most likely holds)."""
        values = {f.name: getattr(wheel, f.name) for f in dataclasses.fields(wheel)}
        insert = self._store._insert(BuiltWheelRow).values(**values)
        if replace:
            keys = {"sdist_sha256", "build_key"}
            insert = insert.on_conflict_do_update(
                index_elements=sorted(keys),
                set_={k: v for k, v in values.items() if k not in keys})
        else:
            insert = insert.on_conflict_do_nothing()
        with self._store._session(write=True) as s:
            s.execute(insert)

    def generation(self) -> tuple[int, datetime | None]:
        """What changes whenever a row is added or replaced (rows are never removed): their count
        and latest `built_at`, one query."""
        query = sa.select(sa.func.count(), sa.func.max(BuiltWheelRow.built_at))
        with self._store._session() as s:
            count, latest = s.execute(query).one()
        return int(count or 0), latest

    def find(self, sdist_sha256s: Collection[str], build_key: str) -> dict[str, BuiltWheel]:
        """The wheels built by `build_key` from these sdists, by sdist sha256 (one query per
        `_CHUNK` sdists; none when there are none)."""
        shas = sorted(set(sdist_sha256s))
        found: dict[str, BuiltWheel] = {}
        if not shas:
            return found
        with self._store._session() as s:
            for start in range(0, len(shas), _CHUNK):
                query = sa.select(BuiltWheelRow).where(
                    BuiltWheelRow.build_key == build_key,
                    BuiltWheelRow.sdist_sha256.in_(shas[start:start + _CHUNK]))
                for row in s.scalars(query):
                    found[row.sdist_sha256] = BuiltWheel.from_row(row)
        return found
