"""pylock.toml (PEP 751) written by the real tools — uv (`uv pip compile`, `uv export`) and pip
(`pip lock`) — from the local index, built by venvd: in-process, over HTTP and from the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inputs.conftest import LINUX_311, WINDOWS_311
from tests.support.index_server import LocalIndex
from venvd.errors import InvalidDocument, InvalidLock
from venvd.inputs import parse_document, pylock_to_lock
from venvd.service import Service
from venvd.service._bodies import EnvironmentBody, parse_body
from venvd.target import target_from_request


def _build(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    data = parse_body(EnvironmentBody, body).to_service(service.settings.max_compatible_tags)
    doc = service.environments.create_from_json(data)
    final: dict[str, Any] = service.environments.wait(doc["id"], timeout=180)
    return final


def _pins(lock: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in lock["packages"]}


def test_a_uv_compiled_pylock_is_built_as_locked(
        shop: LocalIndex, make_service: Callable[..., Service], uv_compile: Callable[..., str]) -> None:
    text = uv_compile(shop, ["app", "lib<2", "native"])
    service = make_service(shop)
    final = _build(service, {"document": {"kind": "pylock.toml", "text": text}, "target": LINUX_311})
    assert final["status"] == "ready", final["error"]
    assert _pins(final["lock"]) == {"app": "1.0", "lib": "1.0", "native": "1.0"}
    native = next(p for p in final["lock"]["packages"] if p["name"] == "native")
    assert [f["filename"] for f in native["files"]] == [
        "native-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"]


def test_a_uv_export_is_selected_for_each_target_by_its_markers(
        shop: LocalIndex, uv_export: Callable[..., str]) -> None:
    text = uv_export(shop, ["app", "native; sys_platform == 'linux'"])
    assert "marker = " in text  # a universal lock: the tool wrote markers, the test relies on them
    doc = parse_document(text, file="pylock.toml")
    linux = pylock_to_lock(doc, target_from_request(LINUX_311), text=text)
    windows = pylock_to_lock(doc, target_from_request(WINDOWS_311), text=text)
    assert _pins(linux) == {"app": "1.0", "lib": "2.0", "native": "1.0"}
    assert _pins(windows) == {"app": "1.0", "lib": "2.0"}
    assert linux["target"] == target_from_request(LINUX_311).to_json()
    with pytest.raises(InvalidDocument, match=r"pylock.toml: does not fit the target \(Python "
                                              r"3\.10\.0 .*requirement '>=3\.11'"):
        pylock_to_lock(doc, target_from_request({"python": "3.10.0"}), text=text)


def test_a_pip_lock_is_built_over_http_and_in_process_alike(
        shop: LocalIndex, api: Callable[..., httpx.Client], make_service: Callable[..., Service],
        pip_lock: Callable[..., str]) -> None:
    text = pip_lock(shop, ["app", "native"])
    assert 'created-by = "pip"' in text
    body = {"document": {"kind": "pylock.toml", "text": text, "name": "pylock.toml"},
            "target": LINUX_311}
    client = api(shop)
    answer = client.post("/v1/environments", json=body)
    assert answer.status_code in (200, 202), answer.text
    env_id = answer.json()["id"]
    deadline = time.monotonic() + 180
    while (doc := client.get(f"/v1/environments/{env_id}").json())["status"] not in ("ready", "failed"):
        assert time.monotonic() < deadline, doc
        time.sleep(0.1)
    assert doc["status"] == "ready", doc["error"]
    assert _pins(doc["lock"]) == {"app": "1.0", "lib": "2.0", "native": "1.0"}
    # the same body in process: the same environment id (same lock, target and options)
    assert _build(make_service(shop), body)["id"] == env_id


def test_a_pylock_naming_files_the_index_does_not_serve_is_refused(
        shop: LocalIndex, make_service: Callable[..., Service], uv_compile: Callable[..., str]) -> None:
    text = uv_compile(shop, ["lib==2.0"])
    service = make_service(shop)
    forged = re.sub(r'sha256 = "[0-9a-f]{64}"', f'sha256 = "{"0" * 64}"', text)
    with pytest.raises(InvalidLock, match="is not listed with that URL and sha256"):
        _build(service, {"document": {"kind": "pylock.toml", "text": forged}, "target": LINUX_311})
    local = re.sub(r'url = "[^"]+"', 'path = "./wheels/lib-2.0-py3-none-any.whl"', text)
    with pytest.raises(InvalidDocument, match=r"package lib: lib-2.0-py3-none-any.whl is given by "
                                              r"a local path"):
        _build(service, {"document": {"kind": "pylock.toml", "text": local}, "target": LINUX_311})


def test_venvd_create_takes_a_pylock(shop: LocalIndex, uv_compile: Callable[..., str],
                                     tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(uv_compile(shop, ["app", "native"]))
    dest = tmp_path / "env"
    out = subprocess.run([sys.executable, "-m", "venvd", "create", str(dest), "--lock", str(lock),
                          "--index-url", shop.url, "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    check = subprocess.run([str(dest / "bin" / "python"), "-c",
                            "import app, lib, native; print(lib.__version__)"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "2.0", check.stderr
