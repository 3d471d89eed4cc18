"""PEP 658 metadata that is not the wheel's own: the build fails naming the package and step, and
neither the store's metadata nor a cached resolution keeps what the index lied about.

app 1.0 (wheel METADATA) ──▶ lib>=1, helper        its .metadata (the lie) ──▶ lib>=1 only
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.builder.helpers import HttpFetcher, lock_for
from tests.support.dists import core_metadata, make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import BuildCache, build_environment
from venvd.errors import BuildError
from venvd.service import Service
from venvd.target import Target, target_from_request

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
APP = "app-1.0-py3-none-any.whl"


@pytest.fixture
def lying(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1", "helper"]))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "helper", "1.0"))
    index.lie_about_metadata(APP, core_metadata("app", "1.0", ["lib>=1"]).encode())
    return index


def _wait(service: Service, env_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        doc: dict[str, Any] = service.environments.status(env_id)
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.05)
    raise AssertionError("the build did not finish")


def test_a_lying_metadata_file_fails_the_build_and_is_forgotten(
        lying: LocalIndex, make_service: Callable[..., Service]) -> None:
    service = make_service(lying, page_ttl=0)
    request = service.make_request(["app"], target_from_request(LINUX_311))
    first = service.resolve(request)
    assert {p.name for p in first.lock.packages} == {"app", "lib"}  # the lie was believed

    doc = service.environments.create_from_json({"requirements": ["app"], "target": LINUX_311})
    failed = _wait(service, doc["id"])
    assert failed["status"] == "failed", failed
    error = failed["error"]
    assert error["code"] == "build_failed"
    assert error["details"]["package"] == "app" and error["details"]["step"] == "verify metadata"
    assert "Requires-Dist" in error["message"] and "only in the wheel: helper" in error["message"]

    sha = lying.files[APP].sha256
    assert service.store.get_metadata(f"sha256:{sha}") is None
    assert service.store.get_resolution(request.key) is None

    # The index mends its ways: the next resolution reads the metadata again and believes it.
    lying.lie_about_metadata(APP, core_metadata("app", "1.0", ["lib>=1", "helper"]).encode())
    again = service.resolve(request)
    assert not again.cached  # resolved anew, not answered from memory or the store
    assert len(lying.requests_to(f"{APP}.metadata")) == 2
    assert {p.name for p in again.lock.packages} == {"app", "helper", "lib"}
    built = service.environments.create_from_json({"requirements": ["app"], "target": LINUX_311})
    assert _wait(service, built["id"])["status"] == "ready"


def test_a_wheel_that_is_not_the_locked_version_is_refused(
        tmp_path: Path, local_index: Callable[..., LocalIndex]) -> None:
    index = local_index()
    wheel = make_wheel(tmp_path / "src", "pkg", "1.0")
    index.add(wheel)
    # The wheel's file name says 2.0, its METADATA 1.0: what a relabelled upload looks like.
    renamed = wheel.with_name("pkg-2.0-py3-none-any.whl")
    renamed.write_bytes(wheel.read_bytes())
    index.add(renamed)
    with pytest.raises(BuildError) as err:
        build_environment(lock_for(index, [renamed]), Target.current(),
                          cache=BuildCache(tmp_path / "cache"), fetch=HttpFetcher())
    assert err.value.step == "verify metadata" and err.value.package == "pkg"
    assert "version '1.0', the lock '2.0'" in err.value.message
