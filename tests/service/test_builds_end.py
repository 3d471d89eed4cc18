"""Builds always end: a build that raises anywhere, even while recording its failure, ends `failed`
(never stays `building`), and unexpected exceptions are logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.service import Service

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


def test_a_build_failing_before_its_first_step_ends_failed(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    response = client.post("/v1/environments", json={"requirements": ["lib"], "target": Z80_WINDOWS})
    assert response.status_code in (200, 202), response.text
    doc = wait_finished(client, response.json()["id"], timeout=30)
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
        doc = wait_finished(client, response.json()["id"], timeout=30)
        assert doc["status"] == "failed", doc
        assert doc["error"]["message"]


def test_a_failure_inside_the_failure_handling_still_ends_the_build(
    world: LocalIndex,
    make_service: Callable[..., Service],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = make_service(world)
    store = service.store
    real_claim = store.claim_environment
    broken: list[str] = []

    def claim(environment_id: str, owner: str | None, /, **fields: Any) -> Any:
        # The store fails the first write of a failure (as a dropped database connection would).
        if fields.get("status") == "failed" and not broken:
            broken.append(environment_id)
            raise OSError("connection to the database lost")
        return real_claim(environment_id, owner, **fields)

    # A build writes its record only while it owns it (a compare-and-set on the owner).
    monkeypatch.setattr(store, "claim_environment", claim)
    with caplog.at_level(logging.ERROR, logger="venvd.builds"):
        doc = service.environments.create_from_json(
            {"requirements": ["broken"], "target": LINUX_311}
        )
        final = service.environments.wait(doc["id"], timeout=60)
    assert broken and final["status"] == "failed", final
    assert final["error"]["code"] == "internal_error"
    assert "connection to the database lost" in final["error"]["message"]
    assert any("recording the end of its build failed" in r.message for r in caplog.records)


def test_an_unexpected_exception_is_logged_and_fails_the_build(
    world: LocalIndex,
    make_service: Callable[..., Service],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = make_service(world)

    def download(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug in the downloader")

    monkeypatch.setattr(service.index, "download", download)
    with caplog.at_level(logging.ERROR, logger="venvd.builds"):
        doc = service.environments.create_from_json({"requirements": ["tool"], "target": LINUX_311})
        final = service.environments.wait(doc["id"], timeout=60)
    assert final["status"] == "failed" and final["error"]["code"] == "internal_error", final
    assert "a bug in the downloader" in final["error"]["message"]
    logged = [r for r in caplog.records if "failed unexpectedly" in r.message]
    assert logged and logged[0].exc_info is not None
