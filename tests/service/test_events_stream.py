"""Progress streams end: when the client leaves, when the build ends, or at their maximum lifetime,
and they never hold a server thread; the client reconnects, falls back to polling, and never waits
forever."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.service.proxy import FaultProxy
from tests.support.index_server import LocalIndex
from venvd import errors
from venvd.client._http import HttpClient
from venvd.service import Service

BUILDING = "b" * 64


def _service(server: ApiServer) -> Service:
    service: Service = server.server.config.app.state.service
    return service


def _building(server: ApiServer, env_id: str = BUILDING) -> str:
    """An environment the store says is being built (by nobody: it stays so until the test ends it)."""
    _service(server).store.create_environment(env_id, "lock", "target", status="building")
    return env_id


def _first_event(lines: Iterator[str]) -> str:
    """Read up to the first event; the caller keeps `lines` referenced while the stream must stay
    open (a collected line iterator closes its connection)."""
    for line in lines:
        if line.startswith("data:"):
            return line
    raise AssertionError("the stream ended before its first event")


def _seconds_to_answer(client: httpx.Client, path: str) -> float:
    started = time.monotonic()
    with client.stream("GET", path, timeout=5) as response:
        assert response.status_code == 200
        if path.endswith("/events"):
            _first_event(response.iter_lines())
        else:
            response.read()
    return time.monotonic() - started


def _requests_in_flight(server: ApiServer) -> int:
    return len(server.server.server_state.tasks)


@pytest.fixture
def server(world: LocalIndex, make_service: Callable[..., Service]) -> Iterator[ApiServer]:
    started = ApiServer(make_service(world, events_heartbeat_seconds=0.5, events_max_seconds=60))
    yield started
    started.stop()


def test_many_streams_hold_no_thread_and_end_when_their_clients_leave(server: ApiServer) -> None:
    path = f"/v1/environments/{_building(server)}/events"
    # More open streams than the event loop's thread pool has threads (min(32, cpus + 4)).
    count = min(32, (os.cpu_count() or 1) + 4) + 6
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        open_streams = [stack.enter_context(client.stream("GET", path)).iter_lines() for _ in range(count)]
        for lines in open_streams:
            _first_event(lines)
        # While they are open, the server answers at once.
        assert _seconds_to_answer(client, "/v1/health") < 2
        assert _seconds_to_answer(client, path) < 2
        assert _requests_in_flight(server) >= count
    # Their clients gone, the streams end on the server too, and it keeps answering at once.
    deadline = time.monotonic() + 5
    while _requests_in_flight(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _requests_in_flight(server) == 0
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(3):
            assert _seconds_to_answer(client, "/v1/health") < 2
            assert _seconds_to_answer(client, path) < 2


def test_a_stream_has_heartbeats_a_lifetime_and_ends_with_the_build(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    server = ApiServer(make_service(world, events_heartbeat_seconds=0.2, events_max_seconds=1.5))
    try:
        env_id = _building(server)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            started = time.monotonic()
            text = client.get(f"/v1/environments/{env_id}/events").text
            lasted = time.monotonic() - started
            assert 1.4 < lasted < 5, lasted
            assert text.count("event: building") == 1
            assert text.count(": keep-alive") >= 3
            _service(server).store.update_environment(env_id, status="ready")
            ended = client.get(f"/v1/environments/{env_id}/events", timeout=5).text
            assert "event: ready" in ended
    finally:
        server.stop()


def _end_later(server: ApiServer, env_id: str, after: float) -> threading.Thread:
    def end() -> None:
        time.sleep(after)
        _service(server).store.update_environment(env_id, status="ready")

    thread = threading.Thread(target=end, daemon=True)
    thread.start()
    return thread


def test_the_client_reconnects_when_a_stream_reaches_its_lifetime(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    server = ApiServer(make_service(world, events_heartbeat_seconds=0.2, events_max_seconds=0.5))
    proxy = FaultProxy(server.url).start()
    client = HttpClient(proxy.url, stream_read_timeout=2)
    try:
        env_id = _building(server)
        _end_later(server, env_id, 2.5)
        statuses = [event["status"] for event in client.events(env_id)]
        assert statuses[-1] == "ready" and "building" in statuses
        assert len(proxy.requests_to("/events")) >= 3  # reopened after each lifetime
    finally:
        client.close()
        proxy.stop()
        server.stop()


def test_the_client_survives_broken_streams_then_polls(server: ApiServer) -> None:
    proxy = FaultProxy(server.url).start()
    env_id = _building(server)
    # Streams cut after their first bytes, then refused: the client reconnects, then polls.
    proxy.cut(lambda path: path.endswith("/events"), after=5, times=2)
    proxy.fail(lambda path: path.endswith("/events"), 503, times=100)
    client = HttpClient(proxy.url, stream_read_timeout=2, stream_retries=2, poll_interval=0.2)
    try:
        _end_later(server, env_id, 6)
        started = time.monotonic()
        events = list(client.events(env_id))
        assert events[-1]["status"] == "ready"
        assert time.monotonic() - started < 30
        assert len(proxy.requests_to("/events")) == 3  # the first try and 2 reconnections
        assert len(proxy.requests_to(f"/v1/environments/{env_id}")) >= 2  # then it polled
    finally:
        client.close()
        proxy.stop()


def test_a_silent_stream_times_out_and_a_build_is_not_awaited_forever(server: ApiServer) -> None:
    proxy = FaultProxy(server.url).start()
    env_id = _building(server)
    proxy.hold(lambda path: path.endswith("/events"))  # connects, then never a byte
    client = HttpClient(
        proxy.url, stream_read_timeout=0.5, stream_retries=1, poll_interval=0.2, wait_timeout=4
    )
    try:
        started = time.monotonic()
        with pytest.raises(errors.UpstreamTimeout, match="did not finish building"):
            for _ in client.events(env_id):
                pass
        assert time.monotonic() - started < 10
    finally:
        client.close()
        proxy.stop()




def test_the_stream_of_an_unknown_environment_is_a_404(server: ApiServer) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        response = client.get("/v1/environments/" + "0" * 64 + "/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
