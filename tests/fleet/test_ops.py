"""Operations: /metrics parsed with prometheus_client's own parser, request ids in headers, errors
and log lines (JSON, from a real `venvd serve`), /v1/ready with pluggable checks, and the token
table's migration up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.fleet._access_support import (  # noqa: F401  (fixtures)
    PY_TARGET,
    ServeProcess,
    serve_fixture,
    small_index_fixture,
)
from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings
from venvd.store import Store

RESOLVE = {"requirements": ["app"], "target": PY_TARGET}


@pytest.fixture
def server(small_index: LocalIndex, tmp_path: Path) -> Iterator[ApiServer]:
    """The app in process on a real loopback uvicorn (no bind address given: tokens off)."""
    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=small_index.url,
                                    http_retries=1, unsafe_builds=True))
    api = ApiServer(service)
    yield api
    api.stop()
    service.close()


def samples(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return float(found.get((name, frozenset(labels.items())), 0.0))


def test_metrics_count_requests_cache_hits_builds_and_bytes(server: ApiServer) -> None:
    with server.client() as client:
        before = samples(client)
        assert client.post("/v1/resolve", json=RESOLVE).status_code == 200  # miss
        assert client.post("/v1/resolve", json=RESOLVE).status_code == 200  # hit
        created = client.post("/v1/environments", json=RESOLVE)
        assert created.status_code in (200, 202)
        env_id = created.json()["id"]
        for _ in range(600):
            doc = client.get(f"/v1/environments/{env_id}").json()
            if doc["status"] in ("ready", "failed"):
                break
            import time

            time.sleep(0.1)
        assert doc["status"] == "ready", doc
        again = client.post("/v1/environments", json=RESOLVE)  # an existing environment
        assert again.status_code == 200
        artifact = client.get(f"/v1/environments/{env_id}/artifact")
        assert artifact.status_code == 200
        client.get("/no/such/route")
        after = samples(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("venvd_http_requests_total", method="POST", route="/v1/resolve",
                 status="200") == 2
    assert delta("venvd_http_requests_total", method="POST", route="/v1/environments",
                 status="200") >= 1
    # Unknown paths share one label value: clients cannot blow up the series count.
    assert delta("venvd_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("venvd_http_request_duration_seconds_count", method="POST",
                 route="/v1/resolve") == 2
    # Resolutions: the first a miss, the second and the two environment requests hits.
    assert delta("venvd_resolution_cache_total", result="miss") == 1
    assert delta("venvd_resolution_cache_total", result="hit") == 3
    assert delta("venvd_environment_cache_total", result="miss") == 1
    assert delta("venvd_environment_cache_total", result="hit") == 1
    assert delta("venvd_builds_queued_total") == 1
    assert delta("venvd_builds_finished_total", outcome="ready") == 1
    assert delta("venvd_build_duration_seconds_count", outcome="ready") == 1
    assert value(after, "venvd_builds_running") == 0
    assert delta("venvd_artifact_bytes_served_total") == len(artifact.content) > 0
    # From the store: this service's one environment is ready, nothing queued.
    assert value(after, "venvd_environments", status="ready") == 1
    assert value(after, "venvd_queue_depth") == 0


def test_request_ids_in_headers_and_errors(server: ApiServer,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with server.client() as client, caplog.at_level(logging.INFO, logger="venvd.access"):
        plain = client.get("/v1/health")
        generated = plain.headers["X-Request-Id"]
        assert len(generated) == 32 and int(generated, 16) >= 0
        assert client.get("/v1/health").headers["X-Request-Id"] != generated
        given = client.get("/v1/health", headers={"X-Request-Id": "lb-42.a:b"})
        assert given.headers["X-Request-Id"] == "lb-42.a:b"
        # An id that could forge log lines (or is too long) is replaced.
        for bad in ("two words", "x" * 200, "a\tb"):
            answer = client.get("/v1/health", headers={"X-Request-Id": bad})
            assert answer.headers["X-Request-Id"] != bad
        # Every JSON error carries the id: a validation error, an unknown route, a 413 of the
        # body limit (which answers before the app).
        for response in (
            client.post("/v1/resolve", json={"requirements": []}),
            client.get("/nope"),
            client.post("/v1/resolve", content=b"x" * (9 * 1024 * 1024)),
        ):
            assert response.status_code in (404, 413, 422)
            details = response.json()["error"]["details"]
            assert details["request_id"] == response.headers["X-Request-Id"]
    lines = [r for r in caplog.records if r.name == "venvd.access"]
    assert any(getattr(r, "route", None) == "/v1/health" and getattr(r, "status", None) == 200
               for r in lines)


def test_internal_error_is_logged_with_its_traceback_under_the_request_id(
    small_index: LocalIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from venvd.api import create_app

    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=small_index.url))
    app = create_app(service)

    def boom() -> None:
        raise RuntimeError("secret://user:pw@host went wrong")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def call() -> httpx.Response:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://test") as client:
            return await client.get("/boom", headers={"X-Request-Id": "req-1"})

    import asyncio

    with caplog.at_level(logging.ERROR, logger="venvd.api"):
        response = asyncio.run(call())
    service.close()
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["details"]["id"] == error["details"]["request_id"] == "req-1"
    assert "secret" not in response.text
    logged = [r for r in caplog.records if "req-1" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "RuntimeError" in "".join(__import__("traceback").format_exception(*logged[0].exc_info))


def test_ready_names_the_failed_check(server: ApiServer) -> None:
    with server.client() as client:
        ok = client.get("/v1/ready")
        assert ok.status_code == 200
        assert ok.json() == {"status": "ready", "checks": {"store": "ok"}, "failed": []}

        def unreachable() -> None:
            raise ConnectionRefusedError("object store at http://user:pw@127.0.0.1:1 refused")

        service = server.server.config.app.state.service
        service.ready_checks.append(("object_store", unreachable))
        failed = client.get("/v1/ready")
        assert failed.status_code == 503
        doc = failed.json()
        assert doc["failed"] == ["object_store"]
        assert doc["checks"]["store"] == "ok"
        assert doc["checks"]["object_store"] == "failed: ConnectionRefusedError"
        assert "pw" not in failed.text
        assert client.get("/v1/health").status_code == 200  # liveness is not readiness


def test_ready_fails_when_the_store_is_gone(small_index: LocalIndex, tmp_path: Path) -> None:
    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=small_index.url))
    api = ApiServer(service)
    try:
        service.store._engine.dispose()
        # A store whose database file became a directory: the check's query fails.
        service.store._engine = sa.create_engine(f"sqlite:///{tmp_path}")
        response = httpx.get(f"{api.url}/v1/ready", timeout=30)
        assert response.status_code == 503
        assert response.json()["failed"] == ["store"]
    finally:
        api.stop()
        service.close()


def test_json_log_lines_of_a_served_api(tmp_path: Path, small_index: LocalIndex,
                                        serve: object) -> None:
    server: ServeProcess = serve(tmp_path / "data", small_index, "--log-format", "json")  # type: ignore[operator]
    with server.client() as client:
        assert client.post("/v1/resolve", json=RESOLVE,
                           headers={"X-Request-Id": "trace-7"}).status_code == 200
        missing = client.get("/v1/environments/unknown")
        assert missing.status_code == 404
    server.stop()
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert records, server.log()
    access = [r for r in records if r["logger"] == "venvd.access"]
    resolve = next(r for r in access if r["request_id"] == "trace-7")
    assert resolve["route"] == "/v1/resolve" and resolve["status"] == 200
    assert resolve["method"] == "POST" and resolve["duration_ms"] > 0 and resolve["bytes"] > 0
    unknown = next(r for r in access if r["path"] == "/v1/environments/unknown")
    assert unknown["status"] == 404 and unknown["route"] == "/v1/environments/{env_id}"
    assert unknown["request_id"] == missing.headers["X-Request-Id"]
    # Every line is JSON (uvicorn's own start-up lines too).
    assert all(line.startswith("{") for line in server.log().splitlines() if line.strip())


def test_token_migration_up_and_down(fresh_url: str) -> None:
    from venvd.store._engine import create_engine
    from venvd.store._migrate import HEAD_REVISION, current_revision, upgrade

    engine = create_engine(fresh_url)
    try:
        upgrade(engine, "0002")
        assert not sa.inspect(engine).has_table("tokens")
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
        assert sa.inspect(engine).has_table("tokens")
        _alembic(engine, "downgrade", "0002")
        assert current_revision(engine) == "0002"
        assert not sa.inspect(engine).has_table("tokens")
        upgrade(engine)
    finally:
        engine.dispose()
    with Store.open(fresh_url) as store:
        from venvd.store import Tokens

        _, secret = Tokens(store).create("ci", "build")
        assert Tokens(store).authenticate(secret) is not None


def _alembic(engine: sa.Engine, command_name: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from venvd.store._migrate import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, command_name)(config, revision)


def test_log_formats_carry_the_request_id() -> None:
    from venvd.api import _logging

    record = logging.LogRecord("venvd.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.route, record.status = "/x", 200
    token = _logging._request_id.set("rid-1")
    try:
        _logging._WithRequestId().filter(record)
    finally:
        _logging._request_id.reset(token)
    text = _logging._TextFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert text == "INFO venvd.access: GET /x [rid-1]"
    doc = json.loads(_logging.JsonFormatter().format(record))
    assert doc["request_id"] == "rid-1" and doc["route"] == "/x" and doc["status"] == 200
    assert doc["message"] == "GET /x" and doc["level"] == "info" and doc["time"].endswith("Z")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("venvd.api", logging.ERROR, __file__, 1, "bad", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(_logging.JsonFormatter().format(failed))["traceback"]


def test_the_queue_check_talks_to_the_real_broker(server: ApiServer) -> None:
    """With kombu installed (the fleet extra) and `queue_url` set, readiness connects to the
    broker (RabbitMQ on 127.0.0.1:5672 here and in CI); a dead broker fails the check by name."""
    pytest.importorskip("kombu")
    from types import SimpleNamespace

    from venvd.service._ready import default_checks, queue_check

    service = server.server.config.app.state.service
    live = default_checks(SimpleNamespace(queue_url="amqp://guest:guest@127.0.0.1:5672//"),
                          service.store)
    assert [name for name, _ in live] == ["store", "queue"]
    service.ready_checks[:] = live
    with server.client() as client:
        ok = client.get("/v1/ready")
        assert ok.status_code == 200, ok.text
        assert ok.json()["checks"] == {"store": "ok", "queue": "ok"}
        dead = queue_check("amqp://guest:guest@127.0.0.1:1//", timeout=2)
        assert dead is not None
        service.ready_checks[1] = ("queue", dead)
        failed = client.get("/v1/ready")
        assert failed.status_code == 503 and failed.json()["failed"] == ["queue"]
