"""The store layer: venvd's persistent state in SQLite (default) or PostgreSQL.

Project pages and per-file core metadata from the indexes, the dependency edges between projects,
cached resolutions, environment builds, API tokens (`Tokens`), private files and the wheels built
from sdists (`BuiltWheels`), behind `Store` (see
`venvd.store._store` for the contracts). Versions are stored with `version_sort_key`, an ASCII
key that orders like PEP 440.
"""

from __future__ import annotations

from venvd.store._advisories import Advisories, AffectedRow, ImportCounts
from venvd.store._built import BuiltWheel, BuiltWheels
from venvd.store._impact import EnvironmentSummary, Impact, PackageHeld
from venvd.store._private import PrivateFile, PrivateFiles
from venvd.store._records import (
    CachedPage,
    Closure,
    EnvironmentRecord,
    EnvironmentStatus,
    StoredResolution,
)
from venvd.store._store import DATABASE_FILENAME, Store, sqlite_url_for
from venvd.store._tokens import TOKEN_SCOPES, TokenRecord, Tokens, scope_allows
from venvd.store.versionkey import version_sort_key

__all__ = [
    "DATABASE_FILENAME",
    "TOKEN_SCOPES",
    "Advisories",
    "AffectedRow",
    "BuiltWheel",
    "BuiltWheels",
    "CachedPage",
    "Closure",
    "EnvironmentRecord",
    "EnvironmentStatus",
    "EnvironmentSummary",
    "Impact",
    "ImportCounts",
    "PackageHeld",
    "PrivateFile",
    "PrivateFiles",
    "Store",
    "StoredResolution",
    "TokenRecord",
    "Tokens",
    "scope_allows",
    "sqlite_url_for",
    "version_sort_key",
]
