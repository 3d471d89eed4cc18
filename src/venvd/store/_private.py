"""The rows of the private indexes' files: add (never replace), list by project, the generation.

Only the records live here; the bytes are in the object store, written (content-addressed, under a
temporary name, then renamed) before their row is added, so a row always names bytes that exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvd.errors import UploadConflict
from venvd.store._models import PrivateFileRow
from venvd.store._store import Store
from venvd.store.versionkey import version_sort_key

__all__ = ["PrivateFile", "PrivateFiles"]


@dataclasses.dataclass(frozen=True)
class PrivateFile:
    """One file of a private index, as stored."""

    index: str
    project: NormalizedName
    version: Version
    filename: str
    sha256: str
    size: int
    requires_python: str | None
    metadata_sha256: str
    uploaded_at: datetime
    uploaded_by: str | None = None
    id: int = 0

    @classmethod
    def from_row(cls, row: PrivateFileRow) -> PrivateFile:
        return cls(index=row.index_name, project=NormalizedName(row.project),
                   version=Version(row.version), filename=row.filename, sha256=row.sha256,
                   size=row.size, requires_python=row.requires_python,
                   metadata_sha256=row.metadata_sha256, uploaded_at=row.uploaded_at,
                   uploaded_by=row.uploaded_by, id=row.id)

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "project": self.project, "version": str(self.version),
                "filename": self.filename, "sha256": self.sha256, "size": self.size,
                "requires_python": self.requires_python,
                "metadata_sha256": self.metadata_sha256,
                "uploaded_at": self.uploaded_at.isoformat(), "uploaded_by": self.uploaded_by}


class PrivateFiles:
    """The private files of one `Store` (thread-safe like the Store: a transaction per call)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, file: PrivateFile) -> PrivateFile:
        """Record `file` (its bytes already stored); returns it with its id. UploadConflict when
        its index already has a file of that name, whatever its bytes (the unique constraint
        decides, so two concurrent uploads of one name cannot both win)."""
        row = PrivateFileRow(
            index_name=file.index, project=canonicalize_name(file.project),
            version=str(file.version), version_key=version_sort_key(file.version),
            filename=file.filename, sha256=file.sha256, size=file.size,
            requires_python=file.requires_python, metadata_sha256=file.metadata_sha256,
            uploaded_at=file.uploaded_at, uploaded_by=file.uploaded_by)
        try:
            with self._store._session(write=True) as s:
                s.add(row)
                s.flush()
                return PrivateFile.from_row(row)
        except sa.exc.IntegrityError:
            raise self.conflict(file.index, file.filename) from None

    def holds(self, index: str, filename: str) -> bool:
        """Whether `index` has a file named `filename`."""
        with self._store._session() as s:
            return s.scalar(sa.select(PrivateFileRow.id).where(
                PrivateFileRow.index_name == index, PrivateFileRow.filename == filename)) is not None

    @staticmethod
    def conflict(index: str, filename: str) -> UploadConflict:
        """The refusal of a second file named `filename` in `index`."""
        return UploadConflict(
            f"{filename} already exists in the private index {index!r}; an upload never "
            "replaces a file (upload a new version)", index=index, filename=filename)

    def files(self, index: str, project: str) -> list[PrivateFile]:
        """The files of `project` in `index`, oldest version first, then by file name."""
        query = (sa.select(PrivateFileRow)
                 .where(PrivateFileRow.index_name == index,
                        PrivateFileRow.project == canonicalize_name(project))
                 .order_by(PrivateFileRow.version_key, PrivateFileRow.filename))
        with self._store._session() as s:
            return [PrivateFile.from_row(row) for row in s.scalars(query)]

    def file(self, index: str, sha256: str, filename: str) -> PrivateFile | None:
        """The file of `index` with that digest and name, or None."""
        query = sa.select(PrivateFileRow).where(PrivateFileRow.index_name == index,
                                                PrivateFileRow.filename == filename,
                                                PrivateFileRow.sha256 == sha256)
        with self._store._session() as s:
            row = s.scalars(query).one_or_none()
            return None if row is None else PrivateFile.from_row(row)

    def projects(self, indexes: Iterable[str]) -> dict[str, set[NormalizedName]]:
        """The projects each of `indexes` holds (an index without files maps to an empty set)."""
        names = list(indexes)
        found: dict[str, set[NormalizedName]] = {name: set() for name in names}
        query = (sa.select(PrivateFileRow.index_name, PrivateFileRow.project).distinct()
                 .where(PrivateFileRow.index_name.in_(names)))
        with self._store._session() as s:
            for index, project in s.execute(query):
                found[index].add(NormalizedName(project))
        return found

    def generation(self, indexes: Iterable[str]) -> int:
        """The largest file id of `indexes` (0 when empty): it grows with every upload, and a
        file is never removed, so two equal generations mean the same files."""
        query = sa.select(sa.func.max(PrivateFileRow.id)).where(
            PrivateFileRow.index_name.in_(list(indexes)))
        with self._store._session() as s:
            return s.scalar(query) or 0
