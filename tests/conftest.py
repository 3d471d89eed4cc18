"""Shared fixtures: a real local index (tests/support/index_server.py) and the PostgreSQL URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.index_server import LocalIndex


def pytest_configure(config: pytest.Config) -> None:
    """Without bubblewrap (a developer's fresh machine), sdists in tests build unsandboxed, as the
    embedded default does; the sandbox's own tests skip. CI installs bubblewrap and never does this."""
    import os

    from venvd.sandbox import bwrap_path

    if bwrap_path() is None and os.environ.get("CI") != "true":
        os.environ["VENVD_UNSAFE_BUILDS"] = "true"
    # `venvd create` fills the client cache: never the user's own, in tests (subprocesses too).
    if "VENVD_CLIENT_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["VENVD_CLIENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="venvd-test-client-cache-")


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[Callable[..., LocalIndex]]:
    """Factory: `local_index(json=True, pep658=True, ranges=True, etag=True)` gives a started index."""
    started: list[LocalIndex] = []

    def make(**switches: bool) -> LocalIndex:
        index = LocalIndex(tmp_path / f"index-{len(started)}", **switches).start()
        started.append(index)
        return index

    yield make
    for index in started:
        index.stop()


# -- PostgreSQL (store layer) -----------------------------------------------------------------
# A fresh schema per test session; the URL's search_path points into it. Unreachable PostgreSQL:
# skip with the reason, except in CI (CI=true), where it is a failure.


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``VENVD_TEST_POSTGRES_URL`` (default: local trust auth) scoped to a fresh random schema."""
    import contextlib
    import os

    import sqlalchemy as sa

    from tests.support.postgres import postgres_schema

    base = os.environ.get(
        "VENVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_schema(base, "venvd_test"))
        except sa.exc.OperationalError as exc:
            shown = sa.make_url(base).render_as_string(hide_password=True)
            reason = f"PostgreSQL is not reachable at {shown}: {exc.orig}"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            print(reason)
            pytest.skip(reason)
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that has never been migrated (PostgreSQL: a schema of its own)."""
    if request.param == "sqlite":
        from venvd.store import sqlite_url_for

        yield sqlite_url_for(tmp_path)
        return
    from tests.support.postgres import postgres_schema

    with postgres_schema(request.getfixturevalue("postgres_url"), "venvd_fresh") as url:
        yield url
