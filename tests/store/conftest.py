"""Store fixtures: every store test runs on SQLite (a tmp file) and on PostgreSQL (marked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from venvd.store import Store, sqlite_url_for
from venvd.store._models import Base


def _empty_tables(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database."""
    if request.param == "sqlite":
        url = sqlite_url_for(tmp_path / "data")
        Store.open(url).close()
        yield url
        return
    # The schema lives for the whole session and other layers' tests use it too: empty its
    # tables before and after each store test.
    url = request.getfixturevalue("postgres_url")
    Store.open(url).close()
    _empty_tables(url)
    yield url
    _empty_tables(url)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def raw(store_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, to look at rows the API does not expose."""
    engine = sa.create_engine(store_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
