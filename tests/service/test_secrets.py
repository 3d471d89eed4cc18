"""Index credentials are used for requests and shown nowhere: a private index behind HTTP basic
auth, used through ``http://user:TOKEN@host/simple/`` (and through netrc), and every output of
resolutions, builds and failures searched for the token.

private index (basic auth user/TOKEN)
    app 1.0 ──▶ lib>=1        tool 1.0 (console script)
    flaky 1.0   (its page answers 503)      tampered 1.0 (served bytes ≠ listed sha256)
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.builder.helpers import read_members
from tests.service.conftest import ApiServer
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.errors import UpstreamError
from venvd.formats import render
from venvd.index import IndexClient, IndexConfig, ProjectPage
from venvd.lock import Lock
from venvd.service import Service
from venvd.target import target_from_request

TOKEN = "SECRETTOKEN-7c41e9"
USER = "ci-user"
LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
# What the token may hide as: itself, in a basic auth header, URL-quoted.
NEEDLES = (TOKEN, base64.b64encode(f"{USER}:{TOKEN}".encode()).decode(), TOKEN.lower())


@pytest.fixture
def private(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "tool", "1.0", console_scripts={"tool-hello": "tool:main"},
                         files={"tool/__init__.py": "def main():\n    print('hi')\n"}))
    index.add(make_wheel(src, "flaky", "1.0"))
    tampered = index.add(make_wheel(src, "tampered", "1.0"))
    tampered.path.write_bytes(tampered.path.read_bytes() + b"\0")  # listed hash no longer holds
    index.require_auth(USER, TOKEN)
    return index


def _secret_url(index: LocalIndex) -> str:
    return index.url.replace("http://", f"http://{USER}:{TOKEN}@")


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode(errors="replace") if isinstance(text, str) else text
    return [n for n in NEEDLES if n.encode() in data]


def _response_text(response: httpx.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{response.status_code}\n{headers}\n\n{response.text}"


def _wait(client: httpx.Client, env_id: str) -> httpx.Response:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = client.get(f"/v1/environments/{env_id}")
        if response.json()["status"] in ("ready", "failed"):
            return response
        time.sleep(0.1)
    raise AssertionError(f"environment {env_id} did not finish")


def _data_dir_texts(data_dir: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under the data dir as bytes (the SQLite files raw), the artifacts decompressed,
    and the store's rows dumped as SQL text."""
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file():
            continue
        yield str(path), path.read_bytes()
        if path.name.endswith(".tar.zst") and "environments" in str(path):
            for name, (_info, body) in read_members(path).items():
                yield f"{path}!{name}", name.encode() + b"\n" + body
    for db in data_dir.rglob("*.sqlite*"):
        if db.suffix in (".sqlite", ".sqlite3", ".db") or db.name.endswith(".sqlite"):
            with sqlite3.connect(db) as connection:
                yield f"{db} (dump)", "\n".join(connection.iterdump()).encode()


def test_credentials_in_the_index_url_reach_the_index_and_nothing_else(
        private: LocalIndex, make_service: Callable[..., Service], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[tuple[str, str | bytes]] = []
    service = make_service(private, index_url=_secret_url(private), http_retries=1)
    server = ApiServer(service)
    try:
        with server.client() as client:
            health = client.get("/v1/health")
            outputs.append(("health", _response_text(health)))
            assert health.json()["indexes"] == [private.url]

            resolved = client.post("/v1/resolve", json={"requirements": ["app", "tool"],
                                                        "target": LINUX_311})
            outputs.append(("resolve", _response_text(resolved)))
            assert resolved.status_code == 200, resolved.text
            lock = Lock.from_json({k: v for k, v in resolved.json().items()
                                   if k in ("target", "requirements", "constraints", "packages")})
            assert {p.name for p in lock.packages} == {"app", "lib", "tool"}
            assert {p.index for p in lock.packages} == {private.url}
            for fmt in ("json", "requirements", "pylock"):
                outputs.append((f"render {fmt}", render(lock, fmt)[0]))
                answer = client.post(f"/v1/resolve?format={fmt}",
                                     json={"requirements": ["app"], "target": LINUX_311})
                outputs.append((f"resolve as {fmt}", _response_text(answer)))

            created = client.post("/v1/environments", json={"requirements": ["app", "tool"],
                                                           "target": LINUX_311})
            outputs.append(("create", _response_text(created)))
            done = _wait(client, created.json()["id"])
            outputs.append(("status", _response_text(done)))
            assert done.json()["status"] == "ready", done.text
            events = client.get(f"/v1/environments/{created.json()['id']}/events")
            outputs.append(("events", _response_text(events)))

            missing = client.post("/v1/resolve", json={"requirements": ["nosuchproject"],
                                                      "target": LINUX_311})
            outputs.append(("404 project", _response_text(missing)))
            assert missing.status_code == 404, missing.text

            private.fail("/simple/flaky/", 503, times=10)
            flaky = client.post("/v1/resolve", json={"requirements": ["flaky"],
                                                    "target": LINUX_311})
            outputs.append(("503 index", _response_text(flaky)))
            assert flaky.status_code == 502, flaky.text
            assert private.url in flaky.json()["error"]["message"]  # it says where, without secret

            tampered = client.post("/v1/environments", json={"requirements": ["tampered"],
                                                            "target": LINUX_311})
            outputs.append(("hash mismatch create", _response_text(tampered)))
            failed = _wait(client, tampered.json()["id"])
            outputs.append(("hash mismatch status", _response_text(failed)))
            assert failed.json()["status"] == "failed"
            assert failed.json()["error"]["code"] == "hash_mismatch", failed.text
    finally:
        server.stop()
    # The index saw the credentials on its requests (they were used, as headers).
    assert any(r.headers.get("Authorization") for r in private.requests)

    outputs.append(("logs", caplog.text))
    outputs += [(f"log record {r.name}", repr(r.__dict__)) for r in caplog.records]
    outputs += list(_data_dir_texts(service.settings.data_dir))
    assert any("dump" in name for name, _ in outputs), "the store was not dumped"
    leaks = [(name, found) for name, text in outputs if (found := _leaks(text))]
    assert leaks == []


def _cli(*args: str, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VENVD_DATA_DIR": str(data_dir), **env}
    full.pop("VENVD_SERVER", None)
    return subprocess.run([sys.executable, "-m", "venvd", *args], capture_output=True, text=True,
                          env=full, timeout=180)


def test_credentials_from_venvd_index_url_stay_out_of_cli_output_and_files(
        private: LocalIndex, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"VENVD_INDEX_URL": _secret_url(private)}
    target = ("--python", "3.11", "--platform", "manylinux_2_28_x86_64")
    outputs: list[tuple[str, str | bytes]] = []
    for fmt in ("json", "requirements", "pylock"):
        out = _cli("resolve", "app", *target, "--format", fmt, env=env, data_dir=data)
        assert out.returncode == 0, out.stderr
        outputs += [(f"resolve {fmt} stdout", out.stdout), (f"resolve {fmt} stderr", out.stderr)]
    written = tmp_path / "requirements.txt"
    out = _cli("resolve", "app", *target, "--format", "requirements", "-o", str(written),
               env=env, data_dir=data)
    assert out.returncode == 0, out.stderr
    outputs.append(("requirements.txt", written.read_text()))
    venv = tmp_path / "venv"
    out = _cli("create", str(venv), "app", env=env, data_dir=data)
    outputs += [("create stdout", out.stdout), ("create stderr", out.stderr)]
    assert out.returncode == 0, out.stderr
    for failing in ("nosuchproject", "tampered"):
        out = _cli("create", str(tmp_path / failing), failing, env=env, data_dir=data)
        assert out.returncode != 0
        outputs += [(f"{failing} stdout", out.stdout), (f"{failing} stderr", out.stderr)]
    outputs += [(str(p), p.read_bytes()) for p in venv.rglob("*") if p.is_file()]
    outputs += list(_data_dir_texts(data))
    leaks = [(name, found) for name, text in outputs if (found := _leaks(text))]
    assert leaks == []


def test_netrc_credentials_are_used_for_the_index_host(
        private: LocalIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {USER}\npassword {TOKEN}\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with (IndexClient(IndexConfig(index_urls=(private.url,)), retries=0) as index,
          pytest.raises(UpstreamError, match="HTTP 401") as refused):
        index.project_page("app")
    assert not _leaks(str(refused.value))
    monkeypatch.setenv("NETRC", str(netrc))
    with IndexClient(IndexConfig(index_urls=(private.url,)), retries=0) as index:
        page = index.project_page("app")
        assert isinstance(page, ProjectPage)
        files = page.files
        assert [f.filename for f in files] == ["app-1.0-py3-none-any.whl"]
        metadata = index.fetch_metadata(files[0])
        assert [str(r) for r in metadata.requires_dist] == ["lib>=1"]
        dest = tmp_path / "dl" / files[0].filename
        index.download(files[0].url, files[0].sha256 or "", dest)
        assert dest.is_file()
    assert not any(_leaks(f.url) for f in files)


def test_the_configuration_keeps_credentials_out_of_its_canonical_form() -> None:
    one = IndexConfig(index_urls=(f"https://{USER}:{TOKEN}@example.invalid/simple",))
    other = IndexConfig(index_urls=("https://someone:else@example.invalid/simple/",))
    assert one == other and one.to_json() == other.to_json()
    assert one.to_json() == {"index_urls": ["https://example.invalid/simple/"], "find_links": []}
    assert not _leaks(repr(one)) and not _leaks(json.dumps(one.to_json()))
    assert one.credentials == (("https://example.invalid:443", USER, TOKEN),)



def test_a_connection_failure_names_the_index_without_its_credentials(
        make_service: Callable[..., Service], local_index: Callable[..., LocalIndex],
        caplog: pytest.LogCaptureFixture) -> None:
    import socket

    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://{USER}:{TOKEN}@127.0.0.1:{port}/simple/"
    service = make_service(local_index(), index_url=url, http_retries=0)
    request = service.make_request(["app"], target_from_request(LINUX_311))
    assert not _leaks(json.dumps(request.canonical())) and not _leaks(request.key)
    with pytest.raises(UpstreamError) as err:
        service.resolve(request)
    assert f"127.0.0.1:{port}" in err.value.message
    texts = [err.value.message, json.dumps(err.value.to_json()), repr(err.value), caplog.text]
    assert [t for t in texts if _leaks(t)] == []


def test_credentials_a_page_spells_into_its_links_are_not_kept() -> None:
    from packaging.utils import canonicalize_name

    from venvd.index._pages import parse_html, parse_json

    link = f"https://{USER}:{TOKEN}@files.example.invalid/app-1.0-py3-none-any.whl"
    html = f'<a href="{link}#sha256={"0" * 64}">app-1.0-py3-none-any.whl</a>'.encode()
    page = json.dumps({"files": [{"filename": "app-1.0-py3-none-any.whl", "url": link,
                                  "hashes": {"sha256": "0" * 64}}]}).encode()
    app = canonicalize_name("app")
    for files in (parse_html(html, "https://index.invalid/simple/app/", app, "x"),
                  parse_json(page, "https://index.invalid/simple/app/", app, "x")):
        assert [f.url for f in files] == [
            "https://files.example.invalid/app-1.0-py3-none-any.whl"]
