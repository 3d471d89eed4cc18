"""Pages on a server that enforces tokens: the login form, the HttpOnly SameSite=Strict cookie,
scopes, and CSRF on the form posts (the real app on uvicorn, the real token store)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings
from venvd.store import Tokens


@pytest.fixture(scope="module")
def guarded(web_index: LocalIndex,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """(url of a server with auth "required", secret by scope name)."""
    data = tmp_path_factory.mktemp("web-auth")
    service = Service.open(Settings(data_dir=data, index_url=web_index.url, http_retries=1,
                                    auth="required"))
    tokens = Tokens(service.store)
    secrets = {scope: tokens.create(f"web-{scope}", scope)[1] for scope in ("read", "build")}
    server = ApiServer(service)
    yield server.url, secrets
    server.stop()
    service.close()


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60, follow_redirects=False)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]*)"', html)
    assert match, html[:500]
    return match.group(1)


def test_pages_redirect_to_login_and_leak_nothing(guarded: tuple[str, dict[str, str]]) -> None:
    url, _ = guarded
    with _client(url) as client:
        for path in ("/", "/packages?q=a", "/environments/abc", "/request",
                     "/environments/abc/requirements.txt"):
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=%2F")
            assert answer.content == b""  # no page content before the login
        assert client.get("/static/venvd.css").status_code == 200  # assets are public
        form = client.get("/login", params={"next": "/packages"})
        assert form.status_code == 200 and '<label for="token">Token</label>' in form.text
        assert 'name="next" value="/packages"' in form.text


def test_login_sets_a_strict_httponly_cookie(guarded: tuple[str, dict[str, str]]) -> None:
    url, secrets = guarded
    with _client(url) as client:
        wrong = client.post("/login", data={"token": "not-a-token", "next": "/"})
        assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
        assert "set-cookie" not in wrong.headers
        elsewhere = client.post("/login", data={"token": secrets["read"],
                                                "next": "//evil.example/"})
        assert elsewhere.headers["location"] == "/"  # never sent off this server
        cookie = elsewhere.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        listed = client.get("/")
        assert listed.status_code == 200 and "Log out web-read" in listed.text
        assert client.get("/request").status_code == 403  # read scope may not request
        logged_out = client.post("/logout", data={"csrf": _csrf(listed.text)})
        assert logged_out.status_code == 303
        assert client.get("/").status_code == 303


def test_request_form_needs_build_scope_and_its_csrf_token(
        guarded: tuple[str, dict[str, str]]) -> None:
    url, secrets = guarded
    with _client(url) as client:
        client.post("/login", data={"token": secrets["build"], "next": "/request"})
        form = client.get("/request")
        assert form.status_code == 200
        csrf = _csrf(form.text)
        assert len(csrf) == 64
        for sent in ({}, {"csrf": "0" * 64}):
            refused = client.post("/request", data={"requirements": "solo", **sent})
            assert refused.status_code == 403 and "CSRF" in refused.text
        accepted = client.post("/request", data={"requirements": "solo", "csrf": csrf})
        assert accepted.status_code == 303
        assert accepted.headers["location"].startswith("/environments/")


def test_a_bearer_header_works_without_cookie_or_csrf(guarded: tuple[str, dict[str, str]]) -> None:
    url, secrets = guarded
    with _client(url) as client:
        headers = {"Authorization": f"Bearer {secrets['build']}"}
        assert client.get("/", headers=headers).status_code == 200
        answer = client.post("/request", data={"requirements": "solo"}, headers=headers)
        assert answer.status_code == 303
        reader = {"Authorization": f"Bearer {secrets['read']}"}
        assert client.post("/request", data={"requirements": "solo"},
                           headers=reader).status_code == 403
