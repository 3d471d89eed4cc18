"""Migrations: packaged, idempotent, safe when processes race, and equal to the models."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.support.postgres import postgres_schema
from venvd.errors import VenvdError
from venvd.store import Store, sqlite_url_for
from venvd.store._engine import create_engine
from venvd.store._migrate import HEAD_REVISION, MIGRATIONS_DIR, upgrade
from venvd.store._models import Base


def test_migration_scripts_are_package_data() -> None:
    migrations = resources.files("venvd.store") / "migrations"
    assert (migrations / "env.py").is_file()
    assert (migrations / "versions" / "0001_initial.py").is_file()


def test_head_revision_constant_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def _revision(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
        revisions = [row[0] for row in rows]
    engine.dispose()
    return revisions


def test_open_twice_keeps_data(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.put_resolution("k", {}, {"id": "x"}, None)
    with Store.open(store_url) as store:
        assert store.get_resolution("k") is not None
    assert _revision(store_url) == [HEAD_REVISION]


def _migrate(url: str, create: bool) -> None:
    """`url` brought to head by the migrations (`create=False`) or created at head."""
    engine = create_engine(url)
    upgrade(engine, create=create)
    engine.dispose()


def _schema(url: str) -> dict[str, Any]:
    """Everything reflection sees of every table: columns (type, nullability, default), primary
    key, foreign keys, indexes and unique constraints, and the stamped revision."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            fks = inspector.get_foreign_keys(table)
            tables[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                            for c in inspector.get_columns(table)],
                "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign_keys": sorted(
                    (tuple(fk["constrained_columns"]), fk["referred_table"],
                     tuple(fk["referred_columns"]), str(sorted(fk["options"].items())))
                    for fk in fks),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(tuple(u["column_names"])
                                 for u in inspector.get_unique_constraints(table)),
            }
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    return {"tables": tables, "revision": revision}


def test_migrated_schema_matches_the_models(fresh_url: str) -> None:
    _migrate(fresh_url, create=False)
    engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_new_database_is_created_as_the_migrations_make_it(
        fresh_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A new database is given the models' schema and the head stamp at once (no migrations, no
    Alembic import); the result must be what running every migration gives."""
    _migrate(fresh_url, create=False)
    migrated = _schema(fresh_url)
    assert migrated["revision"] == [HEAD_REVISION] and len(migrated["tables"]) > 5
    with contextlib.ExitStack() as stack:
        if fresh_url.startswith("sqlite"):
            created_url = sqlite_url_for(tmp_path / "created")
        else:
            created_url = stack.enter_context(
                postgres_schema(request.getfixturevalue("postgres_url"), "venvd_created"))
        code = ("import sys; from venvd.store import Store; Store.open(sys.argv[1]).close(); "
                "print(sorted(m for m in sys.modules if m.startswith('alembic')))")
        out = subprocess.run([sys.executable, "-c", code, created_url], capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == "[]"  # created without importing Alembic
        assert _schema(created_url) == migrated
        # And Alembic agrees: at head, nothing to upgrade, nothing differing from the models.
        engine = sa.create_engine(created_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert context.get_current_heads() == (HEAD_REVISION,)
            assert compare_metadata(context, Base.metadata) == []
        engine.dispose()


def test_processes_opening_a_new_database_at_once(fresh_url: str) -> None:
    # Each process imports first and waits for "go" on stdin, so that the migrations really race.
    script = ("import sys; from venvd.store import Store\n"
              "print('ready', flush=True); sys.stdin.readline()\n"
              "s = Store.open(sys.argv[1]); s.put_resolution(sys.argv[2], {}, {}, None); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", script, fresh_url, f"k{i}"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert _revision(fresh_url) == [HEAD_REVISION]
    with Store.open(fresh_url) as store:
        assert all(store.get_resolution(f"k{i}") is not None for i in range(4))


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(VenvdError, match="in-memory"):
        Store.open("sqlite://")


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    with Store.open(sqlite_url_for(tmp_path)) as store:
        engine = store._engine  # the store's own connections, not a plain engine's
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        # Foreign keys are enforced: packages of an environment that does not exist.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO environment_packages VALUES ('nope', 'a', '1', 'k')"))
