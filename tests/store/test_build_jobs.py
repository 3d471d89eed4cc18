"""Build jobs in the store (migration 0003_jobs): attempts counted by the owner compare-and-set,
finished builds queued again by one of racing callers, `published_at` as a compare-and-set, and the
relay's candidates (builds that may have no job in the queue)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from venvd.store import Store

OWNER = {"owner_host": "h1", "owner_pid": 42, "owner_start": "boot/1", "owner_token": "t1"}


def test_a_start_counts_an_attempt(store: Store) -> None:
    record, _ = store.create_environment("env1", "l", "t")
    assert record.attempts == 0 and record.published_at is None
    assert store.claim_environment("env1", None, attempt=True, status="building", **OWNER)
    assert store.claim_environment("env1", "t1", attempt=True)
    assert not store.claim_environment("env1", "other", attempt=True)
    current = store.get_environment("env1")
    assert current is not None and current.attempts == 2 and current.status == "building"


def test_one_of_racing_callers_queues_a_finished_build_again(store: Store) -> None:
    store.create_environment("env1", "l", "t", status="failed")
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def requeue() -> None:
        barrier.wait()
        wins.append(store.requeue_environment("env1", "failed", status="queued", error=None))

    threads = [threading.Thread(target=requeue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    assert not store.requeue_environment("env1", "ready", status="queued")


def test_published_at_is_a_compare_and_set(store: Store) -> None:
    store.create_environment("env1", "l", "t")
    first = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert store.mark_environment_published("env1", None, first)
    assert not store.mark_environment_published("env1", None, first + timedelta(seconds=1))
    assert store.mark_environment_published("env1", first, first + timedelta(seconds=2))
    record = store.get_environment("env1")
    assert record is not None and record.published_at == first + timedelta(seconds=2)


def test_relay_candidates_are_the_builds_that_may_have_no_job(store: Store, raw: sa.Engine) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(seconds=120), now - timedelta(seconds=5)
    rows = {
        # id: (status, owner token, updated_at, published_at)
        "never-published": ("queued", None, old, None),
        "too-fresh": ("queued", None, recent, None),
        "published": ("queued", None, old, old),
        "lost-long-ago": ("queued", None, now - timedelta(hours=2), now - timedelta(hours=2)),
        "silent-owner": ("building", "t1", old, old),
        "live-owner": ("building", "t2", recent, old),
        "finished": ("ready", None, old, None),
    }
    for env_id, (status, token, _, _) in rows.items():
        store.create_environment(env_id, "l", "t", status=status)  # type: ignore[arg-type]
        if token:
            store.update_environment(env_id, owner_token=token)
    table = sa.table("environments", sa.column("id"), sa.column("updated_at"),
                     sa.column("published_at"))
    with raw.begin() as conn:
        for env_id, (_, _, updated, published) in rows.items():
            naive = raw.dialect.name == "sqlite"
            conn.execute(sa.update(table).where(table.c.id == env_id).values(
                updated_at=updated.replace(tzinfo=None) if naive else updated,
                published_at=(published.replace(tzinfo=None) if naive and published else published)))
    found = store.republish_candidates(quiet_for=30, lost_after=3600, lease=60)
    assert sorted(r.id for r in found) == ["lost-long-ago", "never-published", "silent-owner"]
    assert len(store.republish_candidates(quiet_for=30, lost_after=3600, lease=60, limit=1)) == 1
