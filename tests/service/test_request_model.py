"""One request model: a body means, and fails, the same through the HTTP API and the in-process
client, and the options are canonical values (equal meanings, equal resolution keys)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.index_server import LocalIndex
from venvd.client._local import LocalClient
from venvd.errors import VenvdError
from venvd.service import RequestOptions, Settings

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture
def local(world: LocalIndex, tmp_path: Path) -> Iterator[LocalClient]:
    client = LocalClient(Settings(data_dir=tmp_path / "local", index_url=world.url,
                                  http_retries=1))
    yield client
    client.close()


BAD_RESOLVE_BODIES: list[dict[str, Any]] = [
    {"requirements": ["app"], "target": LINUX_311, "options": {"only_binary": 5}},
    {"requirements": ["app"], "target": LINUX_311, "options": {"only_binary": "app"}},
    {"requirements": ["app"], "target": LINUX_311, "options": {"surprise": True}},
    {"requirements": ["app"], "target": LINUX_311, "options": {"prerelease": "sometimes"}},
    {"requirements": ["app"], "target": LINUX_311, "options": {"exclude_newer": "yesterday"}},
    {"requirements": ["app"], "target": LINUX_311, "options": {"exclude_newer": 5}},
    {"requirements": ["app"], "target": {"python": "3.11", "surprise": 1}},
    {"requirements": [], "target": LINUX_311},
    {"requirements": "app", "target": LINUX_311},
    {"requirements": ["app"]},
]


@pytest.mark.parametrize("body", BAD_RESOLVE_BODIES)
def test_a_bad_resolve_body_fails_alike_in_process_and_over_http(
    world: LocalIndex, api: Callable[..., httpx.Client], local: LocalClient, body: dict[str, Any]
) -> None:
    answer = api(world).post("/v1/resolve", json=body)
    assert 400 <= answer.status_code < 500, answer.text
    with pytest.raises(VenvdError) as raised:
        local.resolve(body)
    assert (raised.value.http_status, raised.value.code) == (
        answer.status_code, answer.json()["error"]["code"])
    assert raised.value.message == answer.json()["error"]["message"]


@pytest.mark.parametrize("body", [
    {"requirements": ["app"], "target": LINUX_311, "options": {"no_binary": [3]}},
    {"requirements": ["app"], "target": "linux"},
    {"lock": {"packages": []}, "target": LINUX_311},
    {"target": LINUX_311},
])
def test_a_bad_environment_body_fails_alike_in_process_and_over_http(
    world: LocalIndex, api: Callable[..., httpx.Client], local: LocalClient, body: dict[str, Any]
) -> None:
    answer = api(world).post("/v1/environments", json=body)
    assert 400 <= answer.status_code < 500, answer.text
    with pytest.raises(VenvdError) as raised:
        local.create_environment(body)
    assert (raised.value.http_status, raised.value.code) == (
        answer.status_code, answer.json()["error"]["code"])


def test_one_body_has_one_resolution_key_in_process_and_over_http(
    world: LocalIndex, api: Callable[..., httpx.Client], local: LocalClient
) -> None:
    body = {"requirements": ["app"], "target": LINUX_311,
            "options": {"only_binary": ["App"], "exclude_newer": "2999-01-01"}}
    over_http = api(world).post("/v1/resolve", json=body).json()
    in_process = local.resolve(body)
    assert isinstance(in_process, dict)
    assert in_process["resolution_key"] == over_http["resolution_key"]
    assert in_process["id"] == over_http["id"]


def test_options_are_canonical_values() -> None:
    spelled = RequestOptions.from_json(
        {"only_binary": ["Foo_Bar, baz", ":none:"], "exclude_newer": "2024-01-01"})
    assert spelled == RequestOptions(
        only_binary=frozenset({"foo-bar", "baz"}), exclude_newer=datetime(2024, 1, 1, tzinfo=UTC))
    assert spelled.to_json() == {"prereleases": False, "exclude_newer": "2024-01-01T00:00:00+00:00",
                                 "only_binary": ["baz", "foo-bar"], "no_binary": []}
    assert RequestOptions.from_json(spelled.to_json()) == spelled
    assert hash(spelled) == hash(RequestOptions.from_json(spelled.to_json()))
