"""`POST /v1/resolve` and `POST /v1/environments` with a `document` instead of `requirements`:
the same answers over HTTP and in process, and errors that name the document's line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inputs.conftest import LINUX_311
from tests.support.index_server import LocalIndex
from venvd.client._local import LocalClient
from venvd.errors import VenvdError
from venvd.service import Settings

ENVIRONMENT_YML = "name: web\ndependencies:\n  - python=3.12\n  - pip:\n    - app\n    - lib<2\n"
PYPROJECT = ("[project]\nname = 'proj'\nversion = '0.1'\ndependencies = ['app']\n"
             "[project.optional-dependencies]\ncli = ['tool']\n"
             "[dependency-groups]\ntest = ['left']\n")


@pytest.fixture
def local(shop: LocalIndex, tmp_path: Path) -> Iterator[LocalClient]:
    client = LocalClient(Settings(data_dir=tmp_path / "local", index_url=shop.url, http_retries=1))
    yield client
    client.close()


def _pins(lock: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in lock["packages"]}


def test_resolve_documents(shop: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(shop)
    answer = client.post("/v1/resolve", json={
        "document": {"kind": "environment.yml", "text": ENVIRONMENT_YML},
        "target": {"platform": "manylinux_2_28_x86_64"}})
    assert answer.status_code == 200, answer.text
    assert _pins(answer.json()) == {"app": "1.0", "lib": "1.0"}
    assert answer.json()["target"]["marker_environment"]["python_version"] == "3.12"
    answer = client.post("/v1/resolve", json={
        "document": {"text": PYPROJECT, "name": "pyproject.toml", "extras": ["cli"],
                     "groups": ["test"]},
        "target": LINUX_311})
    assert answer.status_code == 200, answer.text
    assert set(_pins(answer.json())) == {"app", "lib", "tool", "left"}
    answer = client.post("/v1/resolve", json={
        "document": {"kind": "requirements.txt", "text": "app\n--pre\n--only-binary=:all:\n"},
        "target": LINUX_311, "format": "requirements"})
    assert answer.status_code == 200, answer.text
    assert "app==1.0" in answer.text


BAD_BODIES: list[tuple[dict[str, Any], int, str]] = [
    ({"document": {"kind": "requirements.txt", "text": "app\n--index-url https://elsewhere/\n"},
      "target": LINUX_311}, 422, "requirements.txt:2: index options"),
    ({"document": {"kind": "requirements.txt", "text": "app\n-r base.txt\n"}, "target": LINUX_311},
     422, "requirements.txt:2: -r base.txt names another file"),
    ({"document": {"kind": "pyproject.toml", "text": "[project]\nname = 'p'\ndependencies = ['a',\n"},
      "target": LINUX_311}, 422, "pyproject.toml:3: not valid TOML"),
    ({"document": {"kind": "environment.yml", "text": ENVIRONMENT_YML}, "target": LINUX_311},
     422, "environment.yml:3: asks for Python 3.12, but the target is Python 3.11"),
    ({"document": {"kind": "pylock.toml", "text": "lock-version = '1.0'\ncreated-by = 'x'\n"
                   "packages = []\n"}, "target": LINUX_311}, 422, "POST it to /v1/environments"),
    ({"document": {"kind": "conda", "text": "x"}, "target": LINUX_311}, 422, "document.kind"),
    ({"requirements": ["app"], "document": {"text": "lib\n"}, "target": LINUX_311}, 400,
     "give either 'requirements' or 'document'"),
]


@pytest.mark.parametrize(("body", "status", "needle"), BAD_BODIES)
def test_a_bad_document_fails_alike_over_http_and_in_process(
        shop: LocalIndex, api: Callable[..., httpx.Client], local: LocalClient,
        body: dict[str, Any], status: int, needle: str) -> None:
    answer = api(shop).post("/v1/resolve", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert needle in error["message"], error
    with pytest.raises(VenvdError) as raised:
        local.resolve(body)
    assert (raised.value.code, raised.value.message) == (error["code"], error["message"])
    assert not shop.requests  # refused before anything was asked of the index


def test_an_environment_from_a_document(shop: LocalIndex, local: LocalClient) -> None:
    doc = local.create_environment({"document": {"kind": "pyproject.toml", "text": PYPROJECT,
                                                 "groups": ["test"]}, "target": LINUX_311})
    final = local.service.environments.wait(doc["id"], timeout=180)
    assert final["status"] == "ready", final["error"]
    assert set(_pins(final["lock"])) == {"app", "lib", "left"}
    with pytest.raises(VenvdError, match="give either 'lock' or 'document'"):
        local.create_environment({"document": {"text": "app\n"}, "lock": final["lock"]})


def test_the_openapi_document_describes_the_document_body(
        shop: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    schemas = api(shop).get("/openapi.json").json()["components"]["schemas"]
    body = schemas["DocumentBody"]
    assert body["properties"]["kind"]["anyOf"][0]["enum"] == [
        "requirements.txt", "environment.yml", "pyproject.toml", "pylock.toml"]
    assert "document" in schemas["ResolveBody"]["properties"]
    assert "document" in schemas["EnvironmentBody"]["properties"]


def test_hash_pins_in_a_posted_document_narrow_the_lock(
        shop: LocalIndex, api: Callable[..., httpx.Client], local: LocalClient) -> None:
    """pip's hash-checking mode on the server: every package needs a --hash pin, and the lock
    keeps only the pinned files; a pin that matches no file is an error naming its line."""
    app = shop.files["app-1.0-py3-none-any.whl"].sha256
    lib = shop.files["lib-1.0-py3-none-any.whl"].sha256
    text = f"app==1.0 --hash=sha256:{app}\nlib==1.0 \\\n    --hash=sha256:{lib}\n"
    client = api(shop)
    body = {"document": {"text": text, "name": "reqs.txt"}, "target": LINUX_311}
    answer = client.post("/v1/resolve", json=body)
    assert answer.status_code == 200, answer.text
    files = {p["name"]: [f["sha256"] for f in p["files"]] for p in answer.json()["packages"]}
    assert files == {"app": [app], "lib": [lib]}
    assert answer.headers["X-Venvd-Lock-Id"] == answer.json()["id"]
    assert local.resolve(body)["id"] == answer.json()["id"]  # type: ignore[index]
    built = client.post("/v1/environments", json=body)
    assert built.status_code in (200, 202), built.text
    assert built.json()["lock"]["id"] == answer.json()["id"]
    for wrong, status, needle in [
        (f"app==1.0 --hash=sha256:{app}\nlib==1.0 --hash=sha256:{'0' * 64}\n", 422,
         "reqs.txt:2: no file of lib 1.0 on the indexes has one of the hashes"),
        (f"app==1.0 --hash=sha256:{app}\n", 422, "none for lib"),
    ]:
        for route in ("/v1/resolve", "/v1/environments"):
            refused = client.post(route, json={**body, "document": {"text": wrong,
                                                                     "name": "reqs.txt"}})
            assert refused.status_code == status, refused.text
            assert needle in refused.json()["error"]["message"]
    universal = client.post("/v1/resolve", json={"document": body["document"],
                                                 "targets": [LINUX_311, LINUX_311]})
    assert universal.status_code == 422
    assert "reqs.txt:1: --hash pins narrow the lock of one target" in universal.text


def test_the_documents_label_and_notices_come_back_as_headers(
        shop: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    # What the CLI prints of a document (its label, what was ignored or left out) reaches an API
    # client too: a conda package left out with skip_conda_packages must not vanish silently.
    client = api(shop)
    text = ("name: web\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy\n"
            "  - pip:\n    - app\n")
    body = {"document": {"kind": "environment.yml", "text": text, "skip_conda_packages": True},
            "target": {"platform": "manylinux_2_28_x86_64"}}
    answer = client.post("/v1/resolve", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Venvd-Document-Label"] == "web"
    notices = json.loads(answer.headers["X-Venvd-Document-Notices"])
    assert any("numpy" in n for n in notices) and any("channels" in n for n in notices), notices
    created = client.post("/v1/environments", json=body)
    assert created.status_code in (200, 202), created.text
    assert created.headers["X-Venvd-Document-Label"] == "web"
    assert json.loads(created.headers["X-Venvd-Document-Notices"]) == notices
    plain = client.post("/v1/resolve", json={"requirements": ["app"], "target": LINUX_311})
    assert "X-Venvd-Document-Label" not in plain.headers
    assert "X-Venvd-Document-Notices" not in plain.headers
