"""Cached resolutions: freshness by expiry (or forever), replacement, UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from venvd.store import Store

NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
REQUEST = {"requirements": ["django>=1.8"], "target": {"python": "2.7"}}
LOCK = {"id": "abc", "packages": [{"name": "django", "version": "1.11.29"}], "target": {}}


def test_fresh_until_it_expires(store: Store) -> None:
    store.put_resolution("k", REQUEST, LOCK, NOW + timedelta(minutes=5), created_at=NOW)
    found = store.get_resolution("k", NOW + timedelta(minutes=4))
    assert found is not None
    assert (found.key, found.request, found.lock) == ("k", REQUEST, LOCK)
    assert found.created_at == NOW and found.created_at.tzinfo is UTC
    assert found.expires_at == NOW + timedelta(minutes=5)
    assert store.get_resolution("k", NOW + timedelta(minutes=5)) is None
    assert store.get_resolution("k", NOW + timedelta(days=1)) is None
    assert store.get_resolution("other", NOW) is None


def test_freshness_compares_instants_across_time_zones(store: Store) -> None:
    store.put_resolution("k", REQUEST, LOCK, NOW + timedelta(minutes=5))
    tokyo = timezone(timedelta(hours=9))
    assert store.get_resolution("k", (NOW + timedelta(minutes=4)).astimezone(tokyo)) is not None
    assert store.get_resolution("k", (NOW + timedelta(minutes=6)).astimezone(tokyo)) is None


def test_permanent_resolution(store: Store) -> None:
    store.put_resolution("k", REQUEST, LOCK, None)
    found = store.get_resolution("k", NOW + timedelta(days=3650))
    assert found is not None and found.expires_at is None
    assert found.created_at.tzinfo is UTC
    assert abs(found.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert store.get_resolution("k") is not None  # default: now


def test_put_replaces(store: Store) -> None:
    store.put_resolution("k", REQUEST, LOCK, NOW - timedelta(seconds=1))
    assert store.get_resolution("k", NOW) is None
    newer = {**LOCK, "id": "def"}
    store.put_resolution("k", REQUEST, newer, NOW + timedelta(hours=1))
    found = store.get_resolution("k", NOW)
    assert found is not None and found.lock == newer
