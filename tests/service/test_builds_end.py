"""Builds always end: a build that raises anywhere ends `failed` (never stays `building`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.index_server import LocalIndex

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
Z80_WINDOWS = {
    "marker_environment": {
        "implementation_name": "cpython",
        "implementation_version": "3.11.7",
        "os_name": "nt",
        "platform_machine": "z80",
        "platform_python_implementation": "CPython",
        "platform_release": "10",
        "platform_system": "Windows",
        "platform_version": "10.0",
        "python_full_version": "3.11.7",
        "python_version": "3.11",
        "sys_platform": "win32",
    },
    "compatible_tags": ["py3-none-any"],
}


def wait_terminal(client: httpx.Client, env_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/environments/{env_id}").json()
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"environment {env_id} never ended: {doc}")


def test_a_build_failing_before_its_first_step_ends_failed(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    response = client.post("/v1/environments", json={"requirements": ["lib"], "target": Z80_WINDOWS})
    assert response.status_code in (200, 202), response.text
    doc = wait_terminal(client, response.json()["id"])
    assert doc["status"] == "failed", doc
    assert doc["error"]["code"] and doc["error"]["message"]


def test_a_posted_lock_with_a_package_without_files_ends_failed(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    lock = client.post("/v1/resolve", json={"requirements": ["tool"], "target": LINUX_311}).json()
    for key in ("cached", "resolution_key", "timings", "stats", "id"):
        lock.pop(key, None)
    lock["packages"][0]["files"] = []
    response = client.post("/v1/environments", json={"lock": lock, "target": LINUX_311})
    assert response.status_code in (200, 202, 422), response.text
    if response.status_code != 422:
        doc = wait_terminal(client, response.json()["id"])
        assert doc["status"] == "failed", doc
        assert doc["error"]["message"]
