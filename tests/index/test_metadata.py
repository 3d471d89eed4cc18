"""Core metadata: PEP 658 files, HTTP ranges, full download, sdist PKG-INFO or PEP 517."""

from __future__ import annotations

import ast
import io
import os
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex
from venvd.dist import DistFile
from venvd.errors import BuildError, HashMismatch
from venvd.index import IndexClient, ProjectPage
from venvd.index._client import RANGE_TAIL

Client = Callable[..., IndexClient]
Index = Callable[..., LocalIndex]


def _files(client: IndexClient, name: str) -> dict[str, DistFile]:
    page = client.project_page(name)
    assert isinstance(page, ProjectPage)
    return {f.filename: f for f in page.files}


def _big_wheel(directory: Path, name: str, version: str, **kwargs: object) -> Path:
    """A wheel far bigger than the range tail: the ranges path must fetch the member separately."""
    noise = os.urandom(400_000)  # incompressible
    return make_wheel(directory, name, version, files={f"{name}/blob.bin": noise,
                                                       f"{name}/__init__.py": ""},
                      **kwargs)  # type: ignore[arg-type]


def test_pep658_metadata_file_is_used(local_index: Index, index_client: Client,
                                      tmp_path: Path) -> None:
    index = local_index(pep658=True)
    wheel = index.add(make_wheel(tmp_path, "foo", "1.0", requires_dist=["bar>=2; extra == 'x'"],
                                 requires_python=">=3.9", extras=["x"]))
    client = index_client(index.url)
    meta = client.fetch_metadata(_files(client, "foo")[wheel.path.name])
    assert (meta.name, str(meta.version)) == ("foo", "1.0")
    assert meta.requires_dist == ("bar>=2; extra == 'x'",)
    assert meta.requires_python == ">=3.9" and meta.provides_extra == ("x",)
    assert len(index.requests_to(".whl.metadata")) == 1
    assert index.requests_to(".whl") == []  # the wheel itself was never fetched


def test_pep658_hash_is_verified(local_index: Index, index_client: Client, tmp_path: Path) -> None:
    index = local_index(pep658=True)
    entry = index.add(make_wheel(tmp_path, "foo", "1.0"))
    client = index_client(index.url)
    dist = _files(client, "foo")[entry.path.name]
    entry.metadata = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: evil\n\n"
    with pytest.raises(HashMismatch) as caught:
        client.fetch_metadata(dist)
    assert caught.value.url == dist.url + ".metadata"


def test_advertised_but_missing_metadata_file_falls_back_to_the_wheel(
        local_index: Index, index_client: Client, tmp_path: Path) -> None:
    index = local_index(pep658=True)
    entry = index.add(make_wheel(tmp_path, "foo", "1.0", requires_dist=["bar"]))
    client = index_client(index.url)
    dist = _files(client, "foo")[entry.path.name]
    index.pep658 = False  # the page said "core-metadata", the file now 404s
    assert client.fetch_metadata(dist).requires_dist == ("bar",)
    assert len(index.requests_to(".whl")) == 1


def test_range_requests_read_only_the_zip_directory_and_member(
        local_index: Index, index_client: Client, tmp_path: Path) -> None:
    index = local_index(pep658=False)
    entry = index.add(_big_wheel(tmp_path, "foo", "1.0", requires_dist=["bar<3"]))
    client = index_client(index.url)
    meta = client.fetch_metadata(_files(client, "foo")[entry.path.name])
    assert meta.requires_dist == ("bar<3",)
    fetched = index.requests_to(".whl")
    assert all("Range" in r.headers for r in fetched), "no full GET of the wheel"
    assert fetched[0].headers["Range"] == f"bytes=-{RANGE_TAIL}"
    # The tail, then one request for METADATA (it sorts before the blob, far from the tail).
    assert len(fetched) == 2
    start, end = (int(x) for x in fetched[1].headers["Range"][len("bytes="):].split("-"))
    assert end - start < 4096


def test_small_wheel_fits_in_one_range_request(local_index: Index, index_client: Client,
                                               tmp_path: Path) -> None:
    index = local_index(pep658=False)
    entry = index.add(make_wheel(tmp_path, "foo", "1.0", requires_dist=["bar"]))
    client = index_client(index.url)
    assert client.fetch_metadata(_files(client, "foo")[entry.path.name]).requires_dist == ("bar",)
    assert [r.headers.get("Range") for r in index.requests_to(".whl")] == [f"bytes=-{RANGE_TAIL}"]


def test_full_download_when_the_server_ignores_ranges(local_index: Index, index_client: Client,
                                                      tmp_path: Path) -> None:
    index = local_index(pep658=False, ranges=False)
    entry = index.add(_big_wheel(tmp_path, "foo", "1.0", requires_dist=["bar"]))
    client = index_client(index.url)
    assert client.fetch_metadata(_files(client, "foo")[entry.path.name]).requires_dist == ("bar",)
    # The 200 answer to the range request is the whole wheel: used, not fetched a second time.
    assert len(index.requests_to(".whl")) == 1


def test_full_download_is_hash_checked(local_index: Index, index_client: Client,
                                       tmp_path: Path) -> None:
    index = local_index(pep658=False, ranges=False)
    entry = index.add(make_wheel(tmp_path / "a", "foo", "1.0"))
    client = index_client(index.url)
    dist = _files(client, "foo")[entry.path.name]
    other = make_wheel(tmp_path / "b", "foo", "1.0", requires_dist=["x"])
    entry.path.write_bytes(other.read_bytes())
    with pytest.raises(HashMismatch):
        client.fetch_metadata(dist)


def test_metadata_from_many_threads(local_index: Index, index_client: Client,
                                    tmp_path: Path) -> None:
    index = local_index(pep658=False)
    for n in range(12):
        index.add(_big_wheel(tmp_path, "foo", f"1.{n}", requires_dist=[f"dep{n}"]))
    client = index_client(index.url)
    files = sorted(_files(client, "foo").values(), key=lambda f: f.version)
    with ThreadPoolExecutor(8) as pool:
        metas = list(pool.map(client.fetch_metadata, files))
    assert [m.requires_dist for m in metas] == [(f"dep{n}",) for n in range(12)]


# -- sdists ---------------------------------------------------------------------------------

def _edit_sdist(path: Path, suffix: str, edit: Callable[[str], str]) -> Path:
    """Rewrite the member ending with `suffix` of a .tar.gz sdist in place."""
    with tarfile.open(path) as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(path, "w:gz") as tf:
        for member, body in members:
            if member.name.endswith(suffix):
                body = edit(body.decode()).encode()
                member.size = len(body)
            tf.addfile(member, io.BytesIO(body))
    return path


def _pkg_info_disagrees(path: Path) -> Path:
    """PKG-INFO says one thing, the backend another: the answer tells which path produced it."""
    return _edit_sdist(path, "/PKG-INFO", lambda text: text.replace(
        "Requires-Dist: from-backend", "Requires-Dist: from-pkg-info"))


def _sdist_metadata(index: LocalIndex, client: IndexClient, path: Path) -> tuple[str, ...]:
    index.add(path)
    dist = next(f for f in _files(client, "foo").values() if f.filename == path.name)
    return client.fetch_metadata(dist).requires_dist


def test_sdist_static_pkg_info_is_used_without_a_build(local_index: Index, index_client: Client,
                                                       tmp_path: Path) -> None:
    index = local_index()
    client = index_client(index.url)
    # A build would fail: only PKG-INFO can answer.
    sdist = make_sdist(tmp_path, "foo", "1.0", requires_dist=["from-backend"],
                       metadata_version="2.2", fail="no compiler")
    assert _sdist_metadata(index, client, _pkg_info_disagrees(sdist)) == ("from-pkg-info",)


@pytest.mark.parametrize("variant", [
    {"metadata_version": "2.1"},
    {"metadata_version": "2.2", "dynamic": ["Requires-Dist"]},
    {"metadata_version": "2.4", "dynamic": ["requires-python"]},
])
def test_sdist_without_final_metadata_runs_the_pep517_backend(
        local_index: Index, index_client: Client, tmp_path: Path,
        variant: dict[str, object]) -> None:
    index = local_index()
    client = index_client(index.url)
    sdist = make_sdist(tmp_path, "foo", "1.0", requires_dist=["from-backend"],
                       **variant)  # type: ignore[arg-type]
    assert _sdist_metadata(index, client, _pkg_info_disagrees(sdist)) == ("from-backend",)


def test_sdist_without_pkg_info_is_built(local_index: Index, index_client: Client,
                                         tmp_path: Path) -> None:
    index = local_index()
    sdist = make_sdist(tmp_path, "foo", "1.0", requires_dist=["from-backend"], pkg_info=False)
    assert _sdist_metadata(index, index_client(index.url), sdist) == ("from-backend",)


def test_backend_without_prepare_hook_falls_back_to_build_wheel(
        local_index: Index, index_client: Client, tmp_path: Path) -> None:
    index = local_index()
    sdist = _edit_sdist(
        make_sdist(tmp_path, "foo", "1.0", requires_dist=["from-wheel"], pkg_info=False),
        "venvd_test_backend.py",
        lambda text: text.replace("def prepare_metadata_for_build_wheel", "def _not_a_hook"))
    assert _sdist_metadata(index, index_client(index.url), sdist) == ("from-wheel",)


def test_failing_sdist_raises_build_error(local_index: Index, index_client: Client,
                                          tmp_path: Path) -> None:
    index = local_index()
    sdist = make_sdist(tmp_path, "foo", "1.0", metadata_version="2.1", fail="needs a compiler")
    with pytest.raises(BuildError) as caught:
        _sdist_metadata(index, index_client(index.url), sdist)
    error = caught.value
    assert error.package == "foo-1.0.tar.gz" and "foo-1.0.tar.gz" in error.message
    assert error.step == "prepare_metadata_for_build_wheel"
    assert error.log_tail and "needs a compiler" in error.log_tail


def test_stuck_build_is_killed_at_the_timeout(local_index: Index, index_client: Client,
                                              tmp_path: Path) -> None:
    index = local_index()
    # The backend cannot tell its pid to the test (it sees no host path): the sandbox's PID
    # namespace takes the whole tree down; tests/sandbox checks that no process outlives it.
    sdist = _edit_sdist(
        make_sdist(tmp_path / "s", "foo", "1.0", pkg_info=False), "venvd_test_backend.py",
        lambda text: text.replace(
            "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n",
            "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n"
            "    import time; time.sleep(60)\n"))
    client = index_client(index.url, metadata_build_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(BuildError) as caught:
        _sdist_metadata(index, client, sdist)
    assert time.monotonic() - started < 15
    assert "timed out" in caught.value.message
    assert caught.value.step == "prepare_metadata_for_build_wheel"


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (killed, not yet reaped by whoever adopted it) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_build_sees_no_secrets(local_index: Index, index_client: Client, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("VENVD_DATABASE_URL", "postgresql://u:hunter2@db/x")
    monkeypatch.setenv("GITHUB_TOKEN", "hunter2")
    sdist = _edit_sdist(
        make_sdist(tmp_path / "s", "foo", "1.0", pkg_info=False), "venvd_test_backend.py",
        lambda text: text.replace(
            "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n",
            "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n"
            "    raise RuntimeError('ENV=' + repr(dict(os.environ)))\n"))
    index = local_index()
    with pytest.raises(BuildError) as caught:
        _sdist_metadata(index, index_client(index.url), sdist)
    line = next(x for x in (caught.value.log_tail or "").splitlines() if "Error: ENV=" in x)
    seen = ast.literal_eval(line.split("ENV=", 1)[1])
    assert "hunter2" not in repr(seen)
    assert not {"AWS_SECRET_ACCESS_KEY", "VENVD_DATABASE_URL", "GITHUB_TOKEN"} & set(seen)
    # A private home, not the service's: /tmp/home inside bubblewrap, a private temp dir without it.
    from venvd.sandbox import bwrap_path

    if bwrap_path() is not None:
        assert seen["HOME"] == "/tmp/home"
    else:
        assert seen["HOME"] != str(Path.home()) and seen["HOME"].endswith("/home")
    assert not any(k.endswith("_PROXY") or k.endswith("_proxy") for k in seen)
