"""A posted lock is checked file by file against the index's own listing: URL, sha256, file name,
the name and version the file name carries, and the wheel's tags against the target."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.errors import InvalidLock
from venvd.service import Service

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture
def native(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    """native 1.0 as a manylinux wheel and a Windows wheel holding a .pyd; pure 1.0 and 2.0."""
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "native", "1.0", tag="cp311-cp311-manylinux_2_28_x86_64",
                         files={"native/__init__.py": "", "native/_ext.so": b"\x7fELF"}))
    index.add(make_wheel(src, "native", "1.0", tag="cp311-cp311-win_amd64",
                         files={"native/__init__.py": "", "native/_ext.pyd": b"MZ"}))
    index.add(make_wheel(src, "pure", "1.0"))
    index.add(make_wheel(src, "pure", "2.0"))
    return index


def _lock(service: Service, requirements: list[str]) -> dict[str, Any]:
    from venvd.target import target_from_request

    request = service.make_request(requirements, target_from_request(LINUX_311))
    body = copy.deepcopy(service.resolve(request).lock.to_json())  # the lock's own JSON is shared
    body.pop("id")
    return body


def _package(lock: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in lock["packages"] if p["name"] == name)


def _post(service: Service, lock: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = service.environments.create_from_json(
        {"lock": lock, "target": LINUX_311})
    return result


def _windows_file(index: LocalIndex) -> dict[str, Any]:
    name = "native-1.0-cp311-cp311-win_amd64.whl"
    entry = index.files[name]
    return {"filename": name, "url": index.file_url(name), "sha256": entry.sha256,
            "size": entry.path.stat().st_size, "upload_time": None}


def test_an_honest_lock_is_accepted(native: LocalIndex,
                                    make_service: Callable[..., Service]) -> None:
    service = make_service(native)
    doc = _post(service, _lock(service, ["native", "pure"]))
    assert doc["status"] in ("queued", "building", "ready")


def test_a_windows_wheel_under_a_manylinux_name_is_refused(
        native: LocalIndex, make_service: Callable[..., Service]) -> None:
    service = make_service(native)
    lock = _lock(service, ["native"])
    file = _package(lock, "native")["files"][0]
    windows = _windows_file(native)
    file["url"], file["sha256"], file["size"] = windows["url"], windows["sha256"], windows["size"]
    with pytest.raises(InvalidLock) as err:
        _post(service, lock)
    assert "listed as native-1.0-cp311-cp311-win_amd64.whl" in err.value.message
    assert err.value.details["package"] == "native"
    assert err.value.details["filename"] == "native-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"


def test_a_wheel_whose_tags_do_not_fit_the_target_is_refused(
        native: LocalIndex, make_service: Callable[..., Service]) -> None:
    service = make_service(native)
    lock = _lock(service, ["native"])
    _package(lock, "native")["files"] = [_windows_file(native)]
    with pytest.raises(InvalidLock, match="tags do not fit the lock's target") as err:
        _post(service, lock)
    assert err.value.details["filename"] == "native-1.0-cp311-cp311-win_amd64.whl"


def test_a_relabelled_version_is_refused(native: LocalIndex,
                                         make_service: Callable[..., Service]) -> None:
    service = make_service(native)
    lock = _lock(service, ["pure"])
    _package(lock, "pure")["version"] = "9.9.9"
    with pytest.raises(InvalidLock, match=r"is version 2\.0 by its name, not 9\.9\.9"):
        _post(service, lock)
    old = _lock(service, ["pure==1.0"])
    relabelled = _lock(service, ["pure"])
    _package(relabelled, "pure")["files"] = _package(old, "pure")["files"]  # 1.0's file as 2.0
    with pytest.raises(InvalidLock, match=r"is version 1\.0 by its name, not 2\.0"):
        _post(service, relabelled)


def test_a_wrong_size_is_refused(native: LocalIndex,
                                 make_service: Callable[..., Service]) -> None:
    """The builder checks a cached download by the lock's size: a wrong one must not get there."""
    service = make_service(native)
    lock = _lock(service, ["pure"])
    file = _package(lock, "pure")["files"][0]
    file["size"] += 1
    with pytest.raises(InvalidLock, match=r"is listed with size \d+, not \d+"):
        _post(service, lock)


def test_a_file_of_another_project_is_refused(native: LocalIndex,
                                              make_service: Callable[..., Service]) -> None:
    service = make_service(native)
    lock = _lock(service, ["pure", "native"])
    _package(lock, "pure")["files"] = _package(lock, "native")["files"]
    with pytest.raises(InvalidLock, match="not listed with that URL and sha256"):
        _post(service, lock)


def test_the_api_answers_422_naming_the_file(native: LocalIndex,
                                             api: Callable[..., httpx.Client]) -> None:
    client = api(native)
    lock = client.post("/v1/resolve", json={"requirements": ["pure"], "target": LINUX_311}).json()
    body = {k: lock[k] for k in ("target", "requirements", "constraints", "packages")}
    _package(body, "pure")["version"] = "9.9.9"
    response = client.post("/v1/environments", json={"lock": body, "target": LINUX_311})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_lock"
    assert error["details"]["package"] == "pure"
    assert error["details"]["filename"] == "pure-2.0-py3-none-any.whl"
