"""Alembic migrations of the venvd store, run by `venvd.store._migrate.upgrade` on every open."""
