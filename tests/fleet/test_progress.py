"""Build progress reaches the SSE clients of any API node, and an API node watches the store once
for all its clients: on PostgreSQL by LISTEN/NOTIFY (no query while nothing changes, one read per
change), on SQLite by one poller (one query per tick, whatever the number of clients).

    node A (Service) ──writes──▶ store ──NOTIFY venvd_env──▶ node B's hub ──▶ N SSE clients
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.fleet._progress_support import (  # noqa: F401 (fixtures)
    QueryCounter,
    SseReader,
    nodes,
    pg_nodes,
    serve,
    tiny_world,
    wait_until_listening,
)
from venvd.service import Service

CLIENTS = 8
STEPS = 5


def _env_id() -> str:
    return uuid.uuid4().hex * 2  # unique in the session's shared PostgreSQL schema


def test_progress_written_at_node_a_reaches_every_client_of_node_b_at_one_read_per_change(
    nodes: Callable[..., Service],  # noqa: F811
) -> None:
    node_a, node_b = nodes(), nodes()
    pushed = node_a.store.dialect == "postgresql"
    server_b = serve(node_b)
    env_id = _env_id()
    node_a.store.create_environment(env_id, "lock", "target", status="building")
    readers = [SseReader(server_b.url, env_id) for _ in range(CLIENTS)]
    counter = QueryCounter(node_b)
    try:
        for reader in readers:
            reader.arrival(lambda e: e["status"] == "building", timeout=20)
        if pushed:
            wait_until_listening(server_b)
        time.sleep(0.5)  # the reads that start a channel are done
        counter.take()

        # Nothing changes: no query at all when pushed; one poller's ticks when polled.
        idle_seconds = 1.5
        time.sleep(idle_seconds)
        idle = counter.take()
        if pushed:
            assert idle == 0, idle
        else:
            assert idle <= idle_seconds / 0.2 + 3, idle  # not CLIENTS times that

        latencies = []
        started = time.monotonic()
        for done in range(1, STEPS + 1):
            written = time.monotonic()
            node_a.store.update_environment(
                env_id, progress={"step": "install", "done": done, "total": STEPS})
            for reader in readers:
                arrived = reader.arrival(
                    lambda e, d=done: (e["progress"] or {}).get("done") == d, timeout=10)
                latencies.append(arrived - written)
        node_a.store.update_environment(env_id, status="ready", progress={"step": "done"})
        for reader in readers:
            reader.join(10)
            assert reader.error is None, reader.error
            assert reader.statuses()[-1] == "ready"
        elapsed = time.monotonic() - started
        reads = counter.take()
        print(f"\n{node_a.store.dialect}: {CLIENTS} clients, {STEPS + 1} changes in "
              f"{elapsed:.2f} s: {reads} store queries at node B; latency median "
              f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        if pushed:
            # One read per change (and never one per client): a few more at most when a
            # notification lands during a read of the same id.
            assert reads <= 2 * (STEPS + 1), reads
        else:
            assert reads <= elapsed / 0.2 + 3, reads
        assert max(latencies) < 2.0, latencies
    finally:
        counter.close()
        for reader in readers:
            reader.close()
        server_b.stop()


def test_a_build_through_node_a_is_followed_to_its_end_at_node_b(
    nodes: Callable[..., Service],  # noqa: F811
) -> None:
    node_a, node_b = nodes(), nodes()
    server_b = serve(node_b)
    try:
        doc = node_a.environments.create_from_json({"requirements": ["app"], "target": "current"})
        reader = SseReader(server_b.url, doc["id"])
        reader.join(60)
        assert reader.error is None, reader.error
        assert reader.statuses()[-1] == "ready", reader.statuses()
        assert node_b.environments.status(doc["id"])["status"] == "ready"
        reader.close()
    finally:
        server_b.stop()


@pytest.mark.postgres
def test_the_listener_reconnects_and_rereads_what_it_missed(
    pg_nodes: Callable[..., Service],  # noqa: F811
) -> None:
    node_a, node_b = pg_nodes(), pg_nodes()
    server_b = serve(node_b)
    env_id = _env_id()
    node_a.store.create_environment(env_id, "lock", "target", status="building")
    reader = SseReader(server_b.url, env_id)
    try:
        reader.arrival(lambda e: e["status"] == "building", timeout=20)
        # Cut node B's LISTEN connection, and write while it is away.
        engine = sa.create_engine(node_a.settings.resolved_database_url,
                                  poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            cut = conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query = 'LISTEN venvd_env' AND pid <> pg_backend_pid()")).all()
        engine.dispose()
        assert cut
        node_a.store.update_environment(env_id, progress={"step": "install", "done": 1})
        reader.arrival(lambda e: (e["progress"] or {}).get("done") == 1, timeout=15)
        node_a.store.update_environment(env_id, status="ready")
        reader.join(15)
        assert reader.statuses()[-1] == "ready"
    finally:
        reader.close()
        server_b.stop()


@pytest.mark.postgres
def test_streams_progress_by_polling_while_the_listener_cannot_connect(
    pg_nodes: Callable[..., Service], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    import venvd.store._store as store_module

    real = store_module.listener_connect_args
    monkeypatch.setattr(store_module, "listener_connect_args",
                        lambda url: {**real(url), "port": 9, "connect_timeout": 1})  # refused
    node_a, node_b = pg_nodes(), pg_nodes()
    server_b = serve(node_b)
    env_id = _env_id()
    node_a.store.create_environment(env_id, "lock", "target", status="building")
    reader = SseReader(server_b.url, env_id)
    try:
        reader.arrival(lambda e: e["status"] == "building", timeout=20)
        node_a.store.update_environment(env_id, progress={"step": "install", "done": 1})
        reader.arrival(lambda e: (e["progress"] or {}).get("done") == 1, timeout=5)
        node_a.store.update_environment(env_id, status="ready")
        reader.join(10)
        assert reader.statuses()[-1] == "ready"
    finally:
        reader.close()
        server_b.stop()


@pytest.mark.postgres
def test_the_store_notifies_committed_writes_of_environments_only(postgres_url: str) -> None:
    import queue

    from venvd.store import Store

    heard: queue.Queue[str] = queue.Queue()
    with Store.open(postgres_url) as store:
        listener = store.listen_environments(heard.put, lambda: None)
        assert listener is not None
        try:
            assert listener.listening.wait(10)
            env_id, other = _env_id(), _env_id()
            store.create_environment(env_id, "lock", "target", status="queued")
            store.update_environment(env_id, status="building")
            assert heard.get(timeout=5) == env_id
            # Writes that change nothing, or fail, tell nobody.
            assert not store.claim_environment(env_id, "not-the-owner", status="failed")
            with pytest.raises(Exception, match="no environment"):
                store.update_environment(other, status="ready")
            assert store.claim_environment(env_id, None, owner_token="me")
            assert heard.get(timeout=5) == env_id
            time.sleep(0.5)
            assert other not in list(heard.queue)  # (other sessions may share the channel)
        finally:
            listener.close()
