"""Build owners (migration 0002): recorded, found per host, and taken over by exactly one caller."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from venvd.store import Store
from venvd.store._migrate import upgrade

OWNER = {"owner_host": "h1", "owner_pid": 42, "owner_start": "boot/123", "owner_token": "t1"}


def test_owner_is_recorded_and_cleared(store: Store) -> None:
    record, _ = store.create_environment("env1", "l", "t")
    assert (record.owner_host, record.owner_pid, record.owner_start, record.owner_token) == (
        None, None, None, None)
    record = store.update_environment("env1", status="building", **OWNER)
    assert (record.owner_host, record.owner_pid, record.owner_start, record.owner_token) == (
        "h1", 42, "boot/123", "t1")
    assert store.get_environment("env1") == record
    cleared = store.update_environment("env1", owner_token=None)
    assert cleared.owner_token is None and cleared.owner_host == "h1"


def test_unfinished_environments_of_a_host(store: Store) -> None:
    for env_id, status, host in [("a", "queued", "h1"), ("b", "building", "h1"),
                                 ("c", "ready", "h1"), ("d", "failed", "h1"),
                                 ("e", "building", "h2"), ("f", "building", None)]:
        store.create_environment(env_id, "l", "t")
        store.update_environment(env_id, status=status, owner_host=host)
    assert [r.id for r in store.unfinished_environments("h1")] == ["a", "b"]
    assert [r.id for r in store.unfinished_environments("h2")] == ["e"]
    assert store.unfinished_environments("h3") == []


def test_claim_is_a_compare_and_set(store: Store) -> None:
    store.create_environment("env1", "l", "t", status="building")
    store.update_environment("env1", **OWNER)
    assert not store.claim_environment("env1", "someone-else", owner_token="t2")
    assert store.claim_environment("env1", "t1", status="queued", owner_token="t2",
                                   progress={"step": "interrupted"})
    record = store.get_environment("env1")
    assert record is not None
    assert (record.status, record.owner_token, record.progress) == (
        "queued", "t2", {"step": "interrupted"})
    assert not store.claim_environment("env1", "t1", owner_token="t3")  # no longer t1's
    store.update_environment("env1", status="ready")
    assert not store.claim_environment("env1", "t2", owner_token="t3")  # finished builds stay
    store.create_environment("env2", "l", "t")
    assert store.claim_environment("env2", None, owner_token="t4")  # nobody owned it
    with pytest.raises(TypeError):
        store.claim_environment("env2", "t4", lock_id="x")
    with pytest.raises(ValueError, match="status"):
        store.claim_environment("env2", "t4", status="done")


def test_racing_takeovers_have_one_winner(store: Store) -> None:
    store.create_environment("env1", "l", "t", status="building")
    store.update_environment("env1", **OWNER)
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def take(i: int) -> None:
        barrier.wait()
        wins.append(store.claim_environment("env1", "t1", status="queued", owner_token=f"n{i}"))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_migration_0002_keeps_existing_environments(fresh_url: str) -> None:
    engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    if engine.dialect.name == "sqlite":
        from venvd.store._engine import create_engine

        engine.dispose()
        engine = create_engine(fresh_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO environments (id, lock_id, target_key, status, roots, created_at, "
            "updated_at) VALUES ('old', 'l', 't', 'building', '[]', :now, :now)"),
            {"now": "2025-01-01 00:00:00+00:00"})
    engine.dispose()
    with Store.open(fresh_url) as store:  # migrates to head
        record = store.get_environment("old")
        assert record is not None and record.status == "building"
        assert record.owner_host is None and record.owner_token is None
        # Builds without an owner are nobody's to take over at start-up.
        assert store.unfinished_environments("any-host") == []
