"""POST /{index}/ (the legacy upload API): what is stored, what is refused, and that a refusal
stores nothing (no row, no object), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dists import make_sdist, make_wheel
from tests.uploads.conftest import Team, upload


def _error(response: object, status: int, code: str) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    doc = response.json()["error"]  # type: ignore[attr-defined]
    assert doc["code"] == code, doc
    return doc


def test_upload_wheel_and_sdist_then_pages_and_files(
        team: Callable[..., Team], tmp_path: Path, database_url: str | None) -> None:
    server = team(database_url=database_url)
    wheel = make_wheel(tmp_path, "Team_Lib", "1.0", requires_dist=["upstreamdep>=1"],
                       requires_python=">=3.8")
    sdist = make_sdist(tmp_path, "team-lib", "1.0", requires_dist=["upstreamdep>=1"])
    first = upload(server.http, wheel)
    assert first.status_code == 200, first.text
    record = first.json()["file"]
    assert record["project"] == "team-lib" and record["version"] == "1.0"
    assert record["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert upload(server.http, sdist).status_code == 200

    root = server.http.get("/team/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert [p["name"] for p in root.json()["projects"]] == ["team-lib"]
    page = server.http.get("/team/simple/team-lib/",
                           headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    by_name = {f["filename"]: f for f in page["files"]}
    assert set(by_name) == {wheel.name, sdist.name}
    entry = by_name[wheel.name]
    assert entry["hashes"] == {"sha256": record["sha256"]}
    assert entry["requires-python"] == ">=3.8" and entry["size"] == wheel.stat().st_size
    # The file and its PEP 658 metadata, relative to the page, as pip follows them.
    file_url = httpx_join(f"{server.url}/team/simple/team-lib/", entry["url"])
    got = server.http.get(file_url)
    assert got.status_code == 200 and got.content == wheel.read_bytes()
    metadata = server.http.get(file_url + ".metadata")
    assert hashlib.sha256(metadata.content).hexdigest() == entry["core-metadata"]["sha256"]
    assert b"Requires-Dist: upstreamdep>=1" in metadata.content
    html = server.http.get("/team/simple/team-lib/").text
    assert f"#sha256={record['sha256']}" in html
    # Only the private index's own files: upstream's projects are not on its pages.
    assert server.http.get("/team/simple/upstreamdep/").status_code == 404
    assert server.http.get("/team/simple/Team_Lib/", follow_redirects=False).status_code == 301
    assert server.http.get("/nope/simple/").status_code == 404


def httpx_join(base: str, url: str) -> str:
    import httpx

    return str(httpx.URL(base).join(url))


def test_an_upload_never_replaces_a_file(team: Callable[..., Team], tmp_path: Path) -> None:
    server = team()
    wheel = make_wheel(tmp_path / "a", "teamlib", "1.0")
    assert upload(server.http, wheel).status_code == 200
    before = [p.read_bytes() for p in server.objects()]
    _error(upload(server.http, wheel), 409, "upload_conflict")  # the same bytes again
    other = make_wheel(tmp_path / "b", "teamlib", "1.0", files={"teamlib/__init__.py": "x = 2\n"})
    assert other.name == wheel.name and other.read_bytes() != wheel.read_bytes()
    doc = _error(upload(server.http, other), 409, "upload_conflict")
    assert wheel.name in doc["message"] and "never replaces" in doc["message"]
    assert [p.read_bytes() for p in server.objects()] == before
    page = server.http.get("/team/simple/teamlib/",
                           headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    assert [f["hashes"]["sha256"] for f in page["files"]] == [
        hashlib.sha256(wheel.read_bytes()).hexdigest()]


def test_shadowing_upstream_is_refused_unless_configured(team: Callable[..., Team],
                                                         tmp_path: Path) -> None:
    server = team()
    doc = _error(upload(server.http, make_wheel(tmp_path, "taken", "1.0")), 409, "upload_conflict")
    assert "taken" in doc["message"] and "shadow" in doc["message"]
    assert server.rows() == 0 and server.objects() == []
    allowed = upload(server.http, make_wheel(tmp_path, "shadowed", "1.0"))
    assert allowed.status_code == 200, allowed.text


def _corrupt(wheel: Path) -> Path:
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2: len(data) // 2 + 16] = b"\0" * 16
    bad = wheel.parent / "corrupt" / wheel.name
    bad.parent.mkdir()
    bad.write_bytes(bytes(data))
    return bad


def _renamed(tmp_path: Path) -> Path:
    """A wheel of `otherlib` under the file name of `teamlib` (its METADATA disagrees)."""
    wheel = make_wheel(tmp_path / "other", "otherlib", "1.0")
    buffer = io.BytesIO()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(buffer, "w") as dst:
        for info in src.infolist():
            name = info.filename.replace("otherlib-1.0.dist-info", "teamlib-1.0.dist-info")
            dst.writestr(name, src.read(info))
    path = tmp_path / "renamed" / "teamlib-1.0-py3-none-any.whl"
    path.parent.mkdir()
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("case", ["bad name", "not a dist", "metadata mismatch", "corrupt zip",
                                  "wrong digest", "too large", "declared name", "no pkg-info",
                                  "not gzip"])
def test_bad_uploads_are_refused_and_nothing_is_stored(team: Callable[..., Team], tmp_path: Path,
                                                       case: str) -> None:
    server = team(max_upload_bytes=4096)
    wheel = make_wheel(tmp_path, "teamlib", "1.0")
    fields: dict[str, str] = {}
    filename = None
    path = wheel
    if case == "bad name":
        filename = "teamlib-1.0-py3-none-any-extra-bits.whl"
    elif case == "not a dist":
        filename = "teamlib-1.0.txt"
    elif case == "metadata mismatch":
        path = _renamed(tmp_path)
    elif case == "corrupt zip":
        path = _corrupt(wheel)
    elif case == "wrong digest":
        fields["sha256_digest"] = "0" * 64
    elif case == "too large":
        path = make_wheel(tmp_path / "big", "teamlib", "1.0",
                          files={"teamlib/__init__.py": base64.b64encode(os.urandom(8000)).decode()})
        assert path.stat().st_size > 4096
    elif case == "declared name":
        fields["name"] = "otherlib"
    elif case == "no pkg-info":
        path = make_sdist(tmp_path, "teamlib", "1.0", pkg_info=False)
    elif case == "not gzip":
        path = tmp_path / "teamlib-1.0.tar.gz"
        path.write_bytes(b"this is not a gzip stream" * 10)
    doc = _error(upload(server.http, path, filename=filename, **fields), 400, "invalid_upload")
    assert doc["message"], doc
    assert server.rows() == 0 and server.objects() == []
    assert server.http.get("/team/simple/teamlib/").status_code == 404
    # The server still takes a good upload afterwards.
    assert upload(server.http, wheel).status_code == 200


def test_upload_needs_a_build_token_bearer_or_basic(team: Callable[..., Team],
                                                    tmp_path: Path) -> None:
    server = team(auth="required")
    read, build = server.token("reader", "read"), server.token("ci", "build")
    wheel = make_wheel(tmp_path, "teamlib", "1.0")
    _error(upload(server.http, wheel), 401, "unauthorized")
    server.http.headers["Authorization"] = f"Bearer {read}"
    _error(upload(server.http, wheel), 403, "forbidden")
    assert server.http.get("/team/simple/").status_code == 200  # read may read
    wrong_user = base64.b64encode(f"alice:{build}".encode()).decode()
    server.http.headers["Authorization"] = f"Basic {wrong_user}"
    _error(upload(server.http, wheel), 401, "unauthorized")
    assert server.rows() == 0
    basic = base64.b64encode(f"__token__:{build}".encode()).decode()
    server.http.headers["Authorization"] = f"Basic {basic}"
    done = upload(server.http, wheel)
    assert done.status_code == 200, done.text
    assert done.json()["file"]["uploaded_by"] == "ci"
    del server.http.headers["Authorization"]
    _error(server.http.get("/team/simple/"), 401, "unauthorized")


def test_form_without_file_or_action(team: Callable[..., Team]) -> None:
    server = team()
    _error(server.http.post("/team/", data={":action": "file_upload"}), 400, "invalid_upload")
    _error(server.http.post("/team/", data={":action": "remove"},
                            files={"content": ("x.whl", b"x")}), 400, "invalid_upload")
    _error(server.http.post("/team/", content=b"{}", headers={"Content-Type": "application/json"}),
           400, "invalid_upload")
    _error(server.http.post("/other/", data={":action": "file_upload"}), 404, "not_found")


def test_a_body_past_the_bound_is_refused_declared_or_chunked(team: Callable[..., Team]) -> None:
    """The upload route's body is not buffered like the JSON routes' (max_body_bytes): it is
    bounded by max_upload_bytes (plus room for the form), declared or counted while read."""
    server = team(max_upload_bytes=1000)
    # A form whose file part goes on past the bound (never closed).
    body = (b'--x\r\nContent-Disposition: form-data; name="content"; filename="a-1.0.tar.gz"'
            b"\r\nContent-Type: application/octet-stream\r\n\r\n" + b"a" * (2 * 1024 * 1024))
    declared = server.http.post("/team/", content=body, headers={
        "Content-Type": "multipart/form-data; boundary=x"})
    assert _error(declared, 400, "invalid_upload")["details"]["limit"] == "max_upload_bytes"

    def chunks() -> object:
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    chunked = server.http.post("/team/", content=chunks(),  # type: ignore[arg-type]
                               headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert _error(chunked, 400, "invalid_upload")["details"]["limit"] == "max_upload_bytes"
    assert server.rows() == 0 and server.objects() == []


def test_concurrent_uploads_of_one_name_store_one(team: Callable[..., Team], tmp_path: Path,
                                                  database_url: str | None) -> None:
    """Four uploads of one file name with different bytes at once: one wins, the others are 409,
    and the index lists the winner's bytes (the store's unique constraint decides)."""
    import threading

    import httpx

    server = team(database_url=database_url)
    wheels = [make_wheel(tmp_path / str(i), "teamlib", "1.0",
                         files={"teamlib/__init__.py": f"N = {i}\n"}) for i in range(4)]
    answers: dict[int, httpx.Response] = {}

    def send(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            answers[i] = upload(http, wheels[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [200, 409, 409, 409], [a.text for a in answers.values()]
    winner = next(i for i, a in answers.items() if a.status_code == 200)
    page = server.http.get("/team/simple/teamlib/",
                           headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    assert [f["hashes"]["sha256"] for f in page["files"]] == [
        hashlib.sha256(wheels[winner].read_bytes()).hexdigest()]
    got = server.http.get(httpx_join(f"{server.url}/team/simple/teamlib/", page["files"][0]["url"]))
    assert got.content == wheels[winner].read_bytes()
