"""Impact fixtures: the store tests' databases (SQLite, and PostgreSQL under the postgres marker)."""

from __future__ import annotations

from tests.store.conftest import raw, store, store_url

__all__ = ["raw", "store", "store_url"]
