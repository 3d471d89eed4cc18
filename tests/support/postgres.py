"""A fresh PostgreSQL schema for tests and benchmarks: the one way they all make and drop it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def postgres_schema(base: str, prefix: str) -> Iterator[str]:
    """A new schema named `prefix` + a random suffix in the database at `base` (dropped at the end);
    the URL whose search_path points into it. Raises sqlalchemy's OperationalError on entry when
    the server is unreachable."""
    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = sa.make_url(base)
    # Any search_path of `base` is replaced: the schema is created from a plain connection.
    engine = sa.create_engine(url.set(query={}), poolclass=sa.pool.NullPool,
                              connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


def forget_resolutions(url: str) -> None:
    """Delete the stored resolutions of the schema at `url`. Tests share the session's schema, and a
    local index's port can be reused by a later test, repeating a request key: a test that counts
    resolutions must not be answered from another test's cache."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table("resolutions"):
                conn.execute(sa.text("DELETE FROM resolutions"))
    finally:
        engine.dispose()
