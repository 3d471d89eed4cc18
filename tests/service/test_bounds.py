"""Bounded work for every request, no 500s, and errors in venvd's format that keep their type.

Each test reproduces one way the API broke (issue 6, items 3, 4, 5, 11 and "Errors that keep their
type") against the real app on a real uvicorn server over the real local index.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.index_server import LocalIndex
from venvd import errors
from venvd.client._http import HttpClient, error_from_response
from venvd.service import Service

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error body, asserting venvd's format (never FastAPI's `{"detail": ...}`)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]  # type: ignore[no-any-return]


# -- item 11: every error in venvd's format --------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{", 422, "invalid_request"),
        (b'{"requirements": ["\xff"], "target": "current"}', 400, "invalid_request"),
        (b"[" * 1000 + b"]" * 1000, 400, "invalid_request"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_request"),
        (b'{"requirements": ' + b"[" * 900 + b"]" * 900 + b', "target": "current"}', 422,
         "invalid_request"),
    ],
    ids=["malformed", "not-utf8", "nested-1000", "nested-100000", "nested-900-value"],
)
def test_unreadable_bodies_are_venvd_errors(
    world: LocalIndex, api: Callable[..., httpx.Client], content: bytes, status: int, code: str
) -> None:
    client = api(world)
    for path in ("/v1/resolve", "/v1/environments"):
        response = client.post(path, content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == status, response.text
        assert error_of(response)["code"] == code


def test_unknown_routes_and_methods_are_venvd_errors(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    wrong = client.delete("/v1/resolve")
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"
    assert wrong.headers.get("allow") == "POST"


# -- item 5: wrong types and hostile values are 4xx, never 500 ---------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"requirements": 5, "target": LINUX_311},
        {"requirements": [1, 2], "target": LINUX_311},
        {"requirements": "six", "target": LINUX_311},
        {"lock": {"requirements": 5}, "target": LINUX_311},
        {"lock": {"requirements": 5, "packages": [], "target": {}}},
        {"requirements": ["app"], "target": 7},
        {"requirements": ["app"], "options": {"only_binary": 5}, "target": LINUX_311},
        {"requirements": ["app"], "surprise": 1, "target": LINUX_311},
        [1, 2],
        "six",
    ],
)
def test_environment_bodies_of_the_wrong_shape_are_422(
    world: LocalIndex, api: Callable[..., httpx.Client], body: Any
) -> None:
    response = api(world).post("/v1/environments", json=body)
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_request"


def test_a_string_is_not_a_list_of_requirements(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    from venvd.target import target_from_request

    service = make_service(world)
    with pytest.raises(errors.InputError, match="list of strings"):
        service.make_request("six", target_from_request(LINUX_311))  # type: ignore[arg-type]
    with pytest.raises(errors.InputError, match="not a string"):
        service.make_request([1, 2], target_from_request(LINUX_311))  # type: ignore[list-item]


def test_hostile_values_are_4xx(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(world)
    long_name = client.post("/v1/resolve", json={"requirements": ["a" * 100_000], "target": LINUX_311})
    assert long_name.status_code == 422, long_name.text
    assert error_of(long_name)["details"]["limit"] == "max_requirement_length"
    overflow = client.post("/v1/resolve", json={
        "requirements": ["app"], "target": LINUX_311,
        "options": {"exclude_newer": "9999-12-31T23:59:59-23:59"}})
    assert overflow.status_code == 400, overflow.text
    assert "exclude_newer" in error_of(overflow)["message"]
    huge_glibc = client.post("/v1/resolve", json={
        "requirements": ["app"], "target": {"python": "3.11", "platform": "manylinux_2_300000_x86_64"}})
    assert huge_glibc.status_code == 422
    assert "2_60" in error_of(huge_glibc)["message"]


def test_more_than_500_distinct_requirements(
    world: LocalIndex, api: Callable[..., httpx.Client], database_url: str | None
) -> None:
    # Each name is a root of the closure query; markers false for the target keep the index
    # out of it. Before: "too many terms in compound SELECT" (SQLite), a 500.
    client = api(world, database_url=database_url)
    requirements = ["app", *(f"p{i}; python_version < '3'" for i in range(900))]
    response = client.post("/v1/resolve", json={"requirements": requirements, "target": LINUX_311})
    assert response.status_code == 200, response.text
    assert {p["name"] for p in response.json()["packages"]} == {"app", "lib"}


# -- item 4: bounds checked before work starts ------------------------------------------------------


def test_body_size_is_bounded_before_parsing(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world, max_body_bytes=10_000)
    big = json.dumps({"requirements": ["app"] * 5_000, "target": LINUX_311}).encode()
    declared = client.post("/v1/resolve", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    error = error_of(declared)
    assert error["code"] == "request_too_large"
    assert error["details"]["limit"] == "max_body_bytes" and error["details"]["max"] == 10_000

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start:start + 1000]

    chunked = api(world, max_body_bytes=10_000).post(
        "/v1/environments", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert error_of(chunked)["code"] == "request_too_large"
    small = client.post("/v1/resolve", json={"requirements": ["app"], "target": LINUX_311})
    assert small.status_code == 200, small.text


@pytest.mark.parametrize(
    ("settings", "body", "limit"),
    [
        ({"max_requirements": 3}, {"requirements": ["a", "b", "c", "d"]}, "max_requirements"),
        ({"max_constraints": 1}, {"requirements": ["app"], "constraints": ["a", "b"]},
         "max_constraints"),
        ({"max_requirement_length": 10}, {"requirements": ["app>=1.0," + "0" * 10]},
         "max_requirement_length"),
        ({"max_compatible_tags": 10},
         {"requirements": ["app"], "target": {
             "marker_environment": {"python_full_version": "3.11.0", "python_version": "3.11",
                                    "sys_platform": "linux"},
             "compatible_tags": [f"cp311-cp311-linux_{i}" for i in range(11)]}},
         "max_compatible_tags"),
    ],
)
def test_request_bounds_are_settings_named_in_the_error(
    world: LocalIndex, api: Callable[..., httpx.Client], settings: dict[str, Any],
    body: dict[str, Any], limit: str,
) -> None:
    client = api(world, **settings)
    body = {"target": LINUX_311, **body}
    for path in ("/v1/resolve", "/v1/environments"):
        response = client.post(path, json=body)
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert error["code"] == "limit_exceeded"
        assert error["details"]["limit"] == limit
        assert limit in error["message"]
    assert world.requests_to("/simple/app/") == []  # refused before any work


def test_packages_of_a_posted_lock_are_bounded(
    world: LocalIndex, api: Callable[..., httpx.Client], make_service: Callable[..., Service]
) -> None:
    client = api(world, max_lock_packages=1)
    lock = client.post("/v1/resolve", json={"requirements": ["app"], "target": LINUX_311}).json()
    assert len(lock["packages"]) == 2
    response = client.post("/v1/environments", json={"lock": lock})
    assert response.status_code == 422, response.text
    assert error_of(response)["details"]["limit"] == "max_lock_packages"
    # The in-process client (no HTTP route in between) is bounded the same way.
    service = make_service(world, max_lock_packages=1)
    with pytest.raises(errors.LimitExceeded) as caught:
        service.environments.create_from_json({"lock": lock})
    assert caught.value.details["limit"] == "max_lock_packages"


def test_a_resolution_past_its_budget_is_stopped_with_503(
    world: LocalIndex, api: Callable[..., httpx.Client], make_service: Callable[..., Service]
) -> None:
    client = api(world, resolution_timeout=0.0)
    response = client.post("/v1/resolve", json={"requirements": ["app"], "target": LINUX_311})
    assert response.status_code == 503, response.text
    error = error_of(response)
    assert error["code"] == "resolution_timeout"
    assert error["details"]["budget"] == 0.0
    assert "resolution_timeout" in error["message"]
    # In process: the error type, and nothing left in flight.
    from venvd.target import target_from_request

    service = make_service(world, resolution_timeout=0.0)
    request = service.make_request(["app"], target_from_request(LINUX_311))
    with pytest.raises(errors.ResolutionTimeout):
        service.resolve(request)
    assert service.resolutions._inflight == {}


def test_resolver_checks_its_deadline_while_it_works() -> None:
    from packaging.requirements import Requirement

    from tests.resolver.memory import MemorySource
    from venvd.resolver import resolve
    from venvd.target import Target

    class SlowSource(MemorySource):
        def metadata(self, file: Any) -> Any:
            time.sleep(0.05)
            return super().metadata(file)

    # p0 -> p1 -> ... -> p39: 40 metadata reads of 50 ms each, 2 s without a deadline.
    source = SlowSource({f"p{i}": {"1.0": {"requires_dist": [f"p{i + 1}"]}} for i in range(40)}
                        | {"p40": {"1.0": {}}})
    started = time.perf_counter()
    with pytest.raises(errors.ResolutionTimeout):
        resolve([Requirement("p0")], Target.from_shorthand("3.11", "linux_x86_64"), source,
                timeout=0.3)
    assert time.perf_counter() - started < 1.5


# -- errors that keep their type ---------------------------------------------------------------------


def test_http_client_rebuilds_errors_by_code(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world, max_requirements=5)
    http = HttpClient(str(client.base_url))
    try:
        with pytest.raises(errors.ResolutionImpossible) as conflict:
            http.resolve({"requirements": ["left", "right"], "target": LINUX_311})
        assert any("shared" in c for c in conflict.value.causes)
        with pytest.raises(errors.InvalidRequirement) as bad:
            http.resolve({"requirements": ["app>>1"], "target": LINUX_311})
        assert bad.value.requirement == "app>>1"
        with pytest.raises(errors.ProjectNotFound) as missing:
            http.resolve({"requirements": ["no-such-project"], "target": LINUX_311})
        assert missing.value.project == "no-such-project"
        with pytest.raises(errors.LimitExceeded) as limit:
            http.resolve({"requirements": list("abcdef"), "target": LINUX_311})
        assert limit.value.limit == "max_requirements" and limit.value.exit_code == 2
        with pytest.raises(errors.NotFound):
            http.environment("0" * 64)
    finally:
        http.close()


def test_unknown_codes_fall_back_by_status() -> None:
    def answer(status: int, body: Any) -> errors.VenvdError:
        request = httpx.Request("GET", "http://127.0.0.1/")
        return error_from_response(httpx.Response(status, json=body, request=request))

    future = answer(409, {"error": {"code": "some_future_code", "message": "m", "details": {}}})
    assert type(future) is errors.VenvdError and future.code == "some_future_code"
    assert future.http_status == 409
    assert isinstance(answer(422, {"error": {"code": "x", "message": "m"}}), errors.InputError)
    assert type(answer(409, {"error": {"code": "build_failed", "message": "m",
                                       "details": {"package": "p"}}})) is errors.BuildError
    broken = answer(500, {"detail": "x"})
    assert broken.exit_code == 3


def test_unexpected_errors_are_logged_and_leak_nothing(
    world: LocalIndex, make_service: Callable[..., Service], caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from venvd.api import create_app
    from venvd.api.dependencies import get_service

    app = create_app(make_service(world))

    def broken() -> Service:
        raise RuntimeError("cannot reach https://user:s3cr3t-token@index.internal/simple/")

    app.dependency_overrides[get_service] = broken

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://venvd.test") as client:
            return await client.post("/v1/resolve",
                                     json={"requirements": ["app"], "target": LINUX_311})

    with caplog.at_level(logging.ERROR, logger="venvd.api"):
        response = asyncio.run(ask())
    assert response.status_code == 500
    assert "s3cr3t" not in response.text
    error = error_of(response)
    assert error["code"] == "internal_error"
    error_id = error["details"]["id"]
    assert error_id in error["message"]
    assert any(error_id in r.getMessage() for r in caplog.records)


def test_openapi_documents_every_status(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    document = api(world).get("/openapi.json").json()
    paths = document["paths"]
    resolve = paths["/v1/resolve"]["post"]["responses"]
    assert {"200", "404", "409", "413", "422", "502", "503", "504"} <= set(resolve)
    create = paths["/v1/environments"]["post"]["responses"]
    assert {"200", "202", "404", "409", "413", "422", "503"} <= set(create)
    for ops in paths.values():
        for op in ops.values():
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")) and answer.get("content"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (status, op)


def test_remembered_answers_are_bounded_by_weight(
    world: LocalIndex, make_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    from venvd.service import _resolve
    from venvd.target import target_from_request

    service = make_service(world)
    target = target_from_request(LINUX_311)
    first = service.resolve(service.make_request(["app"], target))
    one = _resolve._weight(first)
    # The bound is the setting resolution_cache_weight, read when the service is made.
    monkeypatch.setattr(service.resolutions, "_answers_max_weight", 2 * one + 5)
    for names in (["lib"], ["tool"], ["shared"], ["left"]):
        service.resolve(service.make_request(names, target))
        assert service.resolutions._answers_weight <= 2 * one + 5
    assert len(service.resolutions._answers) <= 3
    assert service.resolutions._answers_weight == sum(
        _resolve._weight(r) for r, _ in service.resolutions._answers.values())
    # Too heavy to keep in memory: served from the store, still a cache hit.
    monkeypatch.setattr(_resolve, "_ANSWER_MAX_WEIGHT", 0)
    request = service.make_request(["app", "tool"], target)
    service.resolve(request)
    assert request.key not in service.resolutions._answers
    assert service.resolve(request).cached
