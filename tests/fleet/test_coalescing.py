"""Identical concurrent resolutions at two API nodes on one PostgreSQL store are resolved once: the
node resolving a key holds the store's lock named by it, the other waits (within its own time
budget) and then answers from the stored lock.

    node A ──resolve(k)──▶ lock k ──▶ resolver ──▶ store(k) ──▶ unlock
    node B ──resolve(k)──▶ wait for k ─────────────────────────▶ read store(k): cached
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import venvd.service._resolve as resolve_module
from tests.fleet._progress_support import pg_nodes, tiny_world  # noqa: F401 (fixtures)
from venvd.errors import ResolutionTimeout
from venvd.service import Service
from venvd.service._resolve import ResolveResult
from venvd.store._locks import advisory_lock_id
from venvd.target import Target

pytestmark = pytest.mark.postgres


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Every real resolution (a call of the resolver) of any node of this process, by start time;
    each lasts at least half a second, so that identical requests overlap."""
    calls: list[float] = []
    real = resolve_module.resolve

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(resolve_module, "resolve", counted)
    yield calls


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run `calls` in threads released together; their results (or exceptions), in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_identical_requests_at_two_nodes_are_resolved_once(
    pg_nodes: Callable[..., Service], resolutions: list[float],  # noqa: F811
) -> None:
    node_a, node_b = pg_nodes(), pg_nodes()
    target = Target.current()
    request_a = node_a.make_request(["app"], target)
    request_b = node_b.make_request(["app"], target)
    assert request_a.key == request_b.key
    answers = _at_once(lambda: node_a.resolve(request_a), lambda: node_b.resolve(request_b))
    assert all(isinstance(a, ResolveResult) for a in answers), answers
    assert len(resolutions) == 1, resolutions
    assert sorted(a.cached for a in answers) == [False, True]
    assert answers[0].lock.id == answers[1].lock.id
    assert [p.name for p in answers[0].lock.packages] == ["app", "lib"]


def test_different_requests_at_two_nodes_do_not_wait_for_each_other(
    pg_nodes: Callable[..., Service], resolutions: list[float],  # noqa: F811
) -> None:
    node_a, node_b = pg_nodes(), pg_nodes()
    target = Target.current()
    request_a = node_a.make_request(["app"], target)
    request_b = node_b.make_request(["lib"], target)
    answers = _at_once(lambda: node_a.resolve(request_a), lambda: node_b.resolve(request_b))
    assert [a.cached for a in answers] == [False, False], answers
    assert len(resolutions) == 2
    assert abs(resolutions[0] - resolutions[1]) < 0.4  # side by side, not one after the other


def test_a_node_waiting_for_another_gives_up_within_its_budget(
    pg_nodes: Callable[..., Service], resolutions: list[float],  # noqa: F811
) -> None:
    node = pg_nodes(resolution_timeout=1.0)
    request = node.make_request(["app"], Target.current())
    # Another node resolving the same key, for longer than this node's budget.
    engine = sa.create_engine(node.settings.resolved_database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                advisory_lock_id(f"resolution:{request.key}"))))
            started = time.monotonic()
            with pytest.raises(ResolutionTimeout) as raised:
                node.resolve(request)
            waited = time.monotonic() - started
        assert 0.5 < waited < 3, waited
        assert raised.value.http_status == 503
        assert resolutions == []
        # Once the other node is done (here: gave up without storing), this one resolves.
        assert node.resolve(request).cached is False
        assert len(resolutions) == 1
    finally:
        engine.dispose()
