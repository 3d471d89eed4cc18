"""Direct references (``name @ URL#sha256=...``) end to end, on the real local index: files served
at URLs that no project page lists, a server that allows their prefix and one that does not.

    fancy 5.0 (wheel, /direct/) ──▶ lib<2          lib 1.0, 2.0 on the index
    handmade 2.0 (sdist, /direct/) ──▶ app ──▶ lib>=1
    lib 3.0 (wheel, /direct/)       a version the index does not have
    native 9.0 (win_amd64 wheel, /direct/)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inputs.conftest import LINUX_311, WINDOWS_311
from tests.support.dists import make_sdist, make_wheel, sha256_file
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.errors import (
    HashMismatch,
    InvalidRequirement,
    NoCompatibleDistribution,
    ResolutionImpossible,
    UpstreamError,
)
from venvd.service import Service
from venvd.target import Target

TARGET = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")


class Direct:
    """The direct files of the world above, by project: (URL with its hash, sha256)."""

    def __init__(self, index: LocalIndex, src: Path) -> None:
        self.index = index
        self.prefix = f"{index.base_url}/direct/"
        self.paths = {
            "fancy": make_wheel(src, "fancy", "5.0", requires_dist=["lib<2"]),
            "handmade": make_sdist(src, "handmade", "2.0", requires_dist=["app"]),
            "lib": make_wheel(src / "v3", "lib", "3.0"),
            "native": make_wheel(src, "native", "9.0", tag="cp311-cp311-win_amd64"),
        }
        self.urls = {name: index.serve_unlisted(path) for name, path in self.paths.items()}

    def sha(self, name: str) -> str:
        return sha256_file(self.paths[name])

    def ref(self, name: str, extra: str = "") -> str:
        return f"{name}{extra} @ {self.urls[name]}#sha256={self.sha(name)}"

    def fetches(self, name: str) -> int:
        return len(self.index.requests_to("/direct/" + self.paths[name].name))


@pytest.fixture
def direct(shop: LocalIndex, tmp_path: Path) -> Direct:
    return Direct(shop, tmp_path / "direct-src")


def _resolve(service: Service, *requirements: str, constraints: tuple[str, ...] = ()) -> Any:
    request = service.make_request(list(requirements), TARGET, constraints=constraints)
    return service.resolve(request)


def _pins(lock: Any) -> dict[str, str]:
    return {p.name: p.version for p in lock.packages}


def test_a_wheel_and_an_sdist_are_their_projects_only_candidates(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service]) -> None:
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    result = _resolve(service, direct.ref("fancy"), direct.ref("handmade"))
    # fancy's and handmade's dependencies come from the files' own metadata
    assert _pins(result.lock) == {"fancy": "5.0", "handmade": "2.0", "app": "1.0", "lib": "1.0"}
    fancy = result.lock.package("fancy")
    assert fancy.index is None
    assert [(f.url, f.sha256) for f in fancy.files] == [(direct.urls["fancy"], direct.sha("fancy"))]
    assert fancy.dependencies == ("lib",)
    assert any("@" in r and "#sha256=" + direct.sha("fancy") in r for r in result.lock.requirements)
    # lib 3.0 exists only at its URL: the direct reference wins over the index's versions
    assert _pins(_resolve(service, direct.ref("lib"), "app").lock)["lib"] == "3.0"


def test_metadata_is_cached_by_hash_and_the_key_holds_url_and_hash(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service]) -> None:
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    first = _resolve(service, direct.ref("handmade"))
    assert direct.fetches("handmade") == 1  # downloaded whole, hash-checked, PKG-INFO read
    again = service.resolve(service.make_request([direct.ref("handmade")], TARGET), refresh=True)
    assert direct.fetches("handmade") == 1  # metadata by hash: nothing fetched again
    assert again.lock.id == first.lock.id
    # Same name, another URL (the same bytes): another request, another key.
    other_url = direct.index.serve_unlisted(direct.paths["handmade"], "copy/handmade-2.0.tar.gz")
    other = service.make_request([f"handmade @ {other_url}#sha256={direct.sha('handmade')}"],
                                 TARGET)
    assert other.key != first.key
    assert service.resolve(other).lock.package("handmade").files[0].url == other_url


def test_refused_unless_the_server_allows_the_prefix(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service]) -> None:
    default = make_service(shop)
    with pytest.raises(InvalidRequirement, match="takes no direct references"):
        _resolve(default, direct.ref("fancy"))
    elsewhere = make_service(shop, direct_url_prefixes=["https://files.example.org/"])
    with pytest.raises(InvalidRequirement, match=r"none of the prefixes .*files\.example\.org"):
        _resolve(elsewhere, direct.ref("fancy"))
    # https only unless the prefix says http: an https prefix of the same host does not match
    https = make_service(shop, direct_url_prefixes=[direct.prefix.replace("http:", "https:")])
    with pytest.raises(InvalidRequirement, match="none of the prefixes"):
        _resolve(https, direct.ref("fancy"))
    allowed = make_service(shop, direct_url_prefixes=[direct.prefix])
    for bad, needle in [
        (f"fancy @ {direct.urls['fancy']}", "no #sha256= hash"),
        (f"fancy @ {direct.prefix}../direct/fancy-5.0-py3-none-any.whl#sha256={direct.sha('fancy')}",
         "'..' path segments"),
        (direct.ref("fancy").replace("http://", "http://u:p@"), "credentials"),
    ]:
        with pytest.raises(InvalidRequirement, match=needle):
            _resolve(allowed, bad)
    with pytest.raises(InvalidRequirement, match="cannot be a direct reference"):
        _resolve(allowed, "app", constraints=(direct.ref("lib"),))
    assert direct.fetches("fancy") == 0  # nothing was fetched for any refused request
    with pytest.raises(ValueError, match="not an http"):
        make_service(shop, direct_url_prefixes=["file:///srv/wheels/"])


def test_a_hash_mismatch_is_an_error_and_caches_nothing(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service]) -> None:
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    wrong = direct.ref("fancy").replace(direct.sha("fancy"), direct.sha("lib"))
    with pytest.raises(HashMismatch, match=f"expected {direct.sha('lib')}"):
        _resolve(service, wrong)
    assert service.store.get_metadata(f"sha256:{direct.sha('lib')}") is None
    assert not [p for p in (service.settings.data_dir / "cache").rglob("*") if p.is_file()]


def test_a_redirect_is_followed_only_inside_the_allowed_prefixes(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service]) -> None:
    # An open redirect on an allowed host must not make the server fetch from elsewhere.
    wheel = direct.paths["fancy"].name
    outside = "/elsewhere/" + wheel
    shop.redirects["/direct/away/" + wheel] = shop.base_url + outside
    shop.redirects["/direct/moved/" + wheel] = direct.urls["fancy"]
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    away = f"fancy @ {direct.prefix}away/{wheel}#sha256={direct.sha('fancy')}"
    with pytest.raises(UpstreamError, match=r"redirects to .*direct_url_prefixes do not allow"):
        _resolve(service, away)
    assert not shop.requests_to(outside)
    moved = f"fancy @ {direct.prefix}moved/{wheel}#sha256={direct.sha('fancy')}"
    assert _pins(_resolve(service, moved).lock)["fancy"] == "5.0"
    assert direct.fetches("fancy") == 1


def test_tags_and_conflicts_are_explained(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service]) -> None:
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    with pytest.raises(NoCompatibleDistribution, match=r"tags \(cp311-cp311-win_amd64\) do not fit"):
        _resolve(service, direct.ref("native"))
    # Another requirement on the same project must be met by the direct file's version.
    with pytest.raises(ResolutionImpossible) as raised:
        _resolve(service, direct.ref("lib"), "lib<3")
    assert "lib" in raised.value.message
    # ... and so must a dependency: fancy needs lib<2, the direct lib is 3.0.
    with pytest.raises(ResolutionImpossible) as raised:
        _resolve(service, direct.ref("lib"), direct.ref("fancy"))
    assert "lib<2" in " ".join(raised.value.causes), raised.value.causes
    # The file must be the named project's.
    with pytest.raises(InvalidRequirement, match="is a file of fancy, not of lib"):
        _resolve(service, f"lib @ {direct.urls['fancy']}#sha256={direct.sha('fancy')}")


def test_outputs_pin_the_url_and_a_posted_lock_needs_the_setting(
        shop: LocalIndex, direct: Direct, api: Callable[..., httpx.Client]) -> None:
    client = api(shop, direct_url_prefixes=[direct.prefix])
    body = {"requirements": [direct.ref("fancy", "[x]") + ' ; python_version >= "3"'],
            "target": LINUX_311}
    text = client.post("/v1/resolve", json={**body, "format": "requirements"}).text
    assert f"fancy @ {direct.urls['fancy']} \\\n    --hash=sha256:{direct.sha('fancy')}" in text
    assert "lib==1.0" in text
    pylock = client.post("/v1/resolve", json={**body, "format": "pylock"}).text
    assert f'url = "{direct.urls["fancy"]}"' in pylock
    lock = client.post("/v1/resolve", json=body).json()
    # A lock naming the file builds on a server that allows the prefix, and nowhere else.
    posted = client.post("/v1/environments", json={"lock": lock})
    assert posted.status_code in (200, 201, 202), posted.text
    assert wait_finished(client, posted.json()["id"])["status"] == "ready"
    assert direct.fetches("fancy") == 1  # the build found the resolution's download in its cache
    strict = api(shop)
    refused = strict.post("/v1/environments", json={"lock": lock})
    assert refused.status_code == 422, refused.text
    assert "fancy-5.0-py3-none-any.whl of fancy 5.0 is not listed" in refused.json()["error"]["message"]
    assert refused.json()["error"]["code"] == "invalid_lock"


def test_a_document_names_the_line_of_a_bad_reference(
        shop: LocalIndex, direct: Direct, api: Callable[..., httpx.Client]) -> None:
    client = api(shop, direct_url_prefixes=[direct.prefix])
    text = f"app\nfancy @ {direct.urls['fancy']}\n"
    answer = client.post("/v1/resolve", json={"document": {"text": text, "name": "reqs.txt"},
                                              "target": LINUX_311})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["message"].startswith("reqs.txt:2: direct reference 'fancy @")
    good = f"app\n{direct.ref('fancy')}\n"
    answer = client.post("/v1/resolve", json={"document": {"text": good, "name": "reqs.txt"},
                                              "target": LINUX_311})
    assert answer.status_code == 200, answer.text
    assert {p["name"] for p in answer.json()["packages"]} == {"app", "fancy", "lib"}
    strict = api(shop)
    for route in ("/v1/resolve", "/v1/environments"):
        refused = strict.post(route, json={"document": {"text": good, "name": "reqs.txt"},
                                           "target": LINUX_311})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_document"
        assert error["message"].startswith("reqs.txt:2: direct reference 'fancy @ "), error
        assert "takes no direct references" in error["message"]
    universal = strict.post("/v1/resolve", json={"document": {"text": good, "name": "reqs.txt"},
                                                 "targets": [LINUX_311, WINDOWS_311]})
    assert universal.json()["error"]["message"].startswith("reqs.txt:2: "), universal.text


def test_venvd_create_makes_a_venv_importing_direct_files(
        shop: LocalIndex, direct: Direct, tmp_path: Path) -> None:
    """resolve → lock → environment built (the sdist in the sandbox) → venv, by the CLI with
    the in-process service, from a requirements file and from a pyproject.toml."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"{direct.ref('fancy')}\n{direct.ref('handmade')}\n")
    env = {**os.environ, "VENVD_DATA_DIR": str(tmp_path / "data"), "VENVD_INDEX_URL": shop.url,
           "VENVD_DIRECT_URL_PREFIXES": json.dumps([direct.prefix])}
    env.pop("VENVD_SERVER", None)
    dest = tmp_path / "venv"
    out = subprocess.run([sys.executable, "-m", "venvd", "create", str(dest), "-r", str(reqs)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    check = subprocess.run(
        [str(dest / "bin" / "python"), "-c",
         "import fancy, handmade, app, lib; print(fancy.__version__, handmade.__version__, "
         "lib.__version__)"], capture_output=True, text=True, timeout=60)
    assert check.stdout.split() == ["5.0", "2.0", "1.0"], check.stderr
    locked = subprocess.run([sys.executable, "-m", "venvd", "resolve", "-r", str(reqs),
                             "--format", "requirements"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert locked.returncode == 0, locked.stderr
    assert f"handmade @ {direct.urls['handmade']} \\" in locked.stdout
    pyproject = tmp_path / "proj" / "pyproject.toml"
    pyproject.parent.mkdir()
    pyproject.write_text(f"[project]\nname = 'p'\nversion = '1'\ndependencies = [\n"
                         f"  'app',\n  '{direct.ref('lib')}',\n]\n")
    out = subprocess.run([sys.executable, "-m", "venvd", "resolve", "-r", str(pyproject)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert {p["name"]: p["version"] for p in json.loads(out.stdout)["packages"]} == {
        "app": "1.0", "lib": "3.0"}
    # Without the setting: exit 2 and one line naming the requirement and why.
    env.pop("VENVD_DIRECT_URL_PREFIXES")
    env["VENVD_DATA_DIR"] = str(tmp_path / "data-strict")
    out = subprocess.run([sys.executable, "-m", "venvd", "resolve", "-r", str(reqs)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "takes no direct references" in out.stderr and "Traceback" not in out.stderr
    assert f"venvd: error: {reqs}:1: invalid requirement 'fancy @ " in out.stderr


def test_a_universal_lock_keeps_the_direct_file(
        shop: LocalIndex, direct: Direct, api: Callable[..., httpx.Client]) -> None:
    client = api(shop, direct_url_prefixes=[direct.prefix])
    body = {"requirements": [direct.ref("fancy"), "native"], "targets": [LINUX_311, WINDOWS_311]}
    answer = client.post("/v1/resolve", json={**body, "format": "requirements"})
    assert answer.status_code == 200, answer.text
    assert f"fancy @ {direct.urls['fancy']} \\\n    --hash=sha256:{direct.sha('fancy')}" in answer.text
    lock = client.post("/v1/resolve", json=body).json()
    built = client.post("/v1/environments", json={"lock": lock, "target": WINDOWS_311})
    assert built.status_code in (200, 201, 202), built.text


def test_hash_checking_mode_counts_the_direct_hash(
        shop: LocalIndex, direct: Direct, tmp_path: Path) -> None:
    """pip's hash-checking mode (a --hash anywhere): the direct reference's #sha256= pins its
    file; every other package still needs its own --hash."""
    lib = shop.files["lib-1.0-py3-none-any.whl"].sha256
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"fancy @ {direct.urls['fancy']} --hash=sha256:{direct.sha('fancy')}\n"
                    f"lib==1.0 --hash=sha256:{lib}\n")
    env = {**os.environ, "VENVD_DATA_DIR": str(tmp_path / "data"), "VENVD_INDEX_URL": shop.url,
           "VENVD_DIRECT_URL_PREFIXES": json.dumps([direct.prefix])}
    env.pop("VENVD_SERVER", None)
    out = subprocess.run([sys.executable, "-m", "venvd", "resolve", "-r", str(reqs)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert {p["name"] for p in json.loads(out.stdout)["packages"]} == {"fancy", "lib"}
    reqs.write_text(f"{direct.ref('handmade')}\nlib==1.0 --hash=sha256:{lib}\n")
    out = subprocess.run([sys.executable, "-m", "venvd", "resolve", "-r", str(reqs)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "none for app" in out.stderr  # handmade's dependency has no --hash pin


def test_a_reference_applies_only_where_its_marker_holds(
        shop: LocalIndex, direct: Direct, api: Callable[..., httpx.Client]) -> None:
    """native 9.0 is a win_amd64 wheel: referenced for Windows only, the Linux target takes the
    index's native 1.0 and never fetches the file."""
    client = api(shop, direct_url_prefixes=[direct.prefix])
    ref = direct.ref("native") + ' ; sys_platform == "win32"'
    answer = client.post("/v1/resolve", json={"requirements": [ref, "native"],
                                              "targets": [LINUX_311, WINDOWS_311]})
    assert answer.status_code == 200, answer.text
    versions = sorted(p["version"] for p in answer.json()["packages"] if p["name"] == "native")
    assert versions == ["1.0", "9.0"]
    linux = client.post("/v1/resolve", json={"requirements": [ref, "native"], "target": LINUX_311})
    assert [p["version"] for p in linux.json()["packages"]] == ["1.0"]


def test_an_sdist_without_final_metadata_is_read_by_the_sandboxed_build(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service],
        tmp_path: Path) -> None:
    old = make_sdist(tmp_path / "old", "oldstyle", "1.0", requires_dist=["lib>=2"], pkg_info=False)
    url = shop.serve_unlisted(old)
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    result = _resolve(service, f"oldstyle @ {url}#sha256={sha256_file(old)}")
    assert _pins(result.lock) == {"oldstyle": "1.0", "lib": "2.0"}


def test_pip_installs_the_requirements_output_and_the_pylock_is_valid(
        shop: LocalIndex, direct: Direct, api: Callable[..., httpx.Client],
        tmp_path: Path) -> None:
    """The rendered lock works with the real installer: pip in hash-checking mode fetches the
    direct URL (and the index pin) and installs them; packaging reads the pylock.toml."""
    import tomllib

    from packaging.pylock import Pylock

    client = api(shop, direct_url_prefixes=[direct.prefix])
    body = {"requirements": [direct.ref("fancy")], "target": LINUX_311}
    reqs = tmp_path / "locked.txt"
    reqs.write_text(client.post("/v1/resolve", json={**body, "format": "requirements"}).text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--no-deps",
                          "--disable-pip-version-check", "--no-cache-dir", "--require-hashes",
                          "--index-url", shop.url, "--target", str(site), "-r", str(reqs)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (site / "fancy" / "__init__.py").is_file() and (site / "lib" / "__init__.py").is_file()
    assert direct.fetches("fancy") == 2  # the resolution's, then pip's
    pylock = client.post("/v1/resolve", json={**body, "format": "pylock"}).text
    locked = Pylock.from_dict(tomllib.loads(pylock))
    fancy = next(p for p in locked.packages if p.name == "fancy")
    assert fancy.wheels is not None
    assert [(w.url, w.hashes) for w in fancy.wheels] == [
        (direct.urls["fancy"], {"sha256": direct.sha("fancy")})]


def test_a_file_whose_metadata_disagrees_with_its_name_is_refused(
        shop: LocalIndex, direct: Direct, make_service: Callable[..., Service],
        tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "liar", "fancy", "5.0")
    renamed = wheel.rename(wheel.with_name("fancy-5.1-py3-none-any.whl"))
    url = shop.serve_unlisted(renamed)
    service = make_service(shop, direct_url_prefixes=[direct.prefix])
    with pytest.raises(InvalidRequirement) as raised:
        _resolve(service, f"fancy @ {url}#sha256={sha256_file(renamed)}")
    assert "its file is unusable" in raised.value.message
    assert url in raised.value.message and "file://" not in raised.value.message
    assert "fancy 5.0" in raised.value.message and "5.1" in raised.value.message
