"""Lock renderings: a requirements.txt that pip installs with hashes; a pylock.toml for uv.

    alpha 1.0 ── requires ──▶ beta>=1      (beta also ships an sdist: two hashes for one pin)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.dists import make_sdist, make_wheel, sha256_file
from tests.support.index_server import LocalIndex
from venvd.errors import InputError, InvalidLock
from venvd.formats import render, to_pylock_toml, to_requirements_txt
from venvd.lock import Lock, LockedFile, LockedPackage
from venvd.target import Target

UV = Path(sys.executable).parent / "uv"


def locked(index: LocalIndex, filename: str) -> LockedFile:
    entry = index.files[filename]
    return LockedFile(filename=filename, url=index.file_url(filename),
                      sha256=sha256_file(entry.path),
                      size=entry.path.stat().st_size, upload_time=entry.upload_time)


@pytest.fixture
def served(local_index: Callable[..., LocalIndex], tmp_path: Path) -> tuple[LocalIndex, Lock]:
    """Two real wheels (and beta's sdist) on a local index, and a lock of them for this host."""
    index = local_index()
    built = tmp_path / "built"
    index.add(make_wheel(built, "alpha", "1.0", requires_dist=["beta>=1"]))
    index.add(make_wheel(built, "beta", "1.0"), upload_time="2024-02-03T04:05:06Z")
    index.add(make_sdist(built, "beta", "1.0"), upload_time="2024-02-03T04:05:07.5+00:00")
    alpha = LockedPackage(name="alpha", version="1.0", dependencies=("beta>=1",), index=index.url,
                          files=(locked(index, "alpha-1.0-py3-none-any.whl"),))
    beta = LockedPackage(name="beta", version="1.0", requires_python=">=3.8", index=index.url,
                         files=(locked(index, "beta-1.0-py3-none-any.whl"),
                                locked(index, "beta-1.0.tar.gz")))
    lock = Lock(packages=(beta, alpha), target=Target.current().to_json(),
                requirements=("alpha",))
    return index, lock


# -- requirements.txt -------------------------------------------------------------------------
def test_requirements_txt_text(served: tuple[LocalIndex, Lock]) -> None:
    index, lock = served
    text = to_requirements_txt(lock)
    comments = [line for line in text.splitlines() if line.startswith("#")]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert "venvd" in comments[0]
    assert any(lock.id in line for line in comments)
    v = sys.version_info
    assert any(f"CPython {v.major}.{v.minor}.{v.micro}" in line for line in comments)
    assert body[0] == "alpha==1.0 \\"  # sorted by name
    assert body[2] == "beta==1.0 \\"
    beta_hashes = {index.files[f].sha256 for f in ("beta-1.0-py3-none-any.whl", "beta-1.0.tar.gz")}
    assert {line.split("sha256:")[1].rstrip(" \\") for line in body[3:5]} == beta_hashes
    assert body[-1].strip() == body[-1].strip().rstrip("\\")  # no dangling continuation
    assert not any(";" in line for line in body)  # one target: no markers
    assert text.endswith("\n")


def test_package_without_files_is_refused(served: tuple[LocalIndex, Lock]) -> None:
    _, lock = served
    broken = Lock(packages=(*lock.packages, LockedPackage("gamma", "2.0", files=())),
                  target=lock.target)
    with pytest.raises(InvalidLock, match="gamma"):
        to_requirements_txt(broken)
    with pytest.raises(InvalidLock, match="gamma"):
        to_pylock_toml(broken)


# -- pylock.toml ------------------------------------------------------------------------------
def test_pylock_fields(served: tuple[LocalIndex, Lock]) -> None:
    index, lock = served
    doc = tomllib.loads(to_pylock_toml(lock))
    v = sys.version_info
    assert doc["lock-version"] == "1.0"
    assert doc["created-by"] == "venvd"
    assert doc["requires-python"] == f"=={v.major}.{v.minor}.*"
    assert doc["environments"] == [f"sys_platform == '{sys.platform}'"]
    assert doc["tool"]["venvd"]["lock-id"] == lock.id
    alpha, beta = doc["packages"]
    assert (alpha["name"], alpha["version"], alpha["index"]) == ("alpha", "1.0", index.url)
    assert alpha["dependencies"] == [{"name": "beta"}]
    assert "sdist" not in alpha
    assert beta["requires-python"] == ">=3.8"
    [wheel] = beta["wheels"]
    assert wheel == {
        "name": "beta-1.0-py3-none-any.whl",
        "upload-time": datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC),
        "url": index.file_url("beta-1.0-py3-none-any.whl"),
        "size": index.files["beta-1.0-py3-none-any.whl"].path.stat().st_size,
        "hashes": {"sha256": index.files["beta-1.0-py3-none-any.whl"].sha256},
    }
    assert beta["sdist"]["name"] == "beta-1.0.tar.gz"
    assert beta["sdist"]["upload-time"] == datetime(2024, 2, 3, 4, 5, 7, 500000, tzinfo=UTC)
    assert beta["sdist"]["hashes"] == {"sha256": index.files["beta-1.0.tar.gz"].sha256}


def test_pylock_for_a_python_27_target() -> None:
    target = Target.from_shorthand("2.7.6", "linux_x86_64").to_json()
    lock = Lock(packages=(LockedPackage("six", "1.16.0", files=(LockedFile(
        "six-1.16.0-py2.py3-none-any.whl", "https://example.org/six.whl", "0" * 64,
        upload_time="not a time"),)),), target=target)
    doc = tomllib.loads(to_pylock_toml(lock))
    assert doc["requires-python"] == "==2.7.*"
    assert doc["environments"] == ["sys_platform == 'linux2'"]
    assert "upload-time" not in doc["packages"][0]["wheels"][0]  # unparseable: dropped
    assert "CPython 2.7.6, linux2 x86_64" in to_requirements_txt(lock)


# -- render -----------------------------------------------------------------------------------
def test_render(served: tuple[LocalIndex, Lock]) -> None:
    _, lock = served
    text, media = render(lock, "json")
    assert media == "application/json"
    assert Lock.from_json(json.loads(text)).id == lock.id
    text, media = render(lock, "requirements")
    assert media.startswith("text/plain") and text == to_requirements_txt(lock)
    text, media = render(lock, "pylock")
    assert media.startswith("application/toml") and text == to_pylock_toml(lock)
    with pytest.raises(InputError, match="'yaml'") as info:
        render(lock, "yaml")
    assert info.value.http_status == 400


# -- real installers --------------------------------------------------------------------------
def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def pip_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One fresh `python -m venv` for the module; each test installs into its own --target."""
    root = tmp_path_factory.mktemp("pip-venv")
    result = run(sys.executable, "-m", "venv", root)
    assert result.returncode == 0, result.stderr
    yield root / "bin" / "python"


def pip_install(python: Path, requirements: Path, index: LocalIndex,
                site: Path) -> subprocess.CompletedProcess[str]:
    return run(python, "-m", "pip", "install", "--isolated", "--disable-pip-version-check",
               "--no-cache-dir", "--require-hashes", "--no-deps", "--index-url", index.url,
               "--target", site, "-r", requirements)


def imports(python: Path, site: Path | None = None) -> str:
    code = "import alpha, beta; print(alpha.__version__, beta.__version__)"
    if site is not None:  # -S: only the --target directory, never the venv's site-packages
        code = f"import sys; sys.path.insert(0, {str(site)!r}); {code}"
    result = run(python, *(["-S"] if site is not None else []), "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_pip_installs_requirements_txt(served: tuple[LocalIndex, Lock], pip_venv: Path,
                                       tmp_path: Path) -> None:
    index, lock = served
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(to_requirements_txt(lock))
    site = tmp_path / "site"
    result = pip_install(pip_venv, requirements, index, site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imports(pip_venv, site) == "1.0 1.0"
    fetched = {r.path for r in index.requests if r.path.startswith("/files/")}
    assert fetched == {"/files/alpha-1.0-py3-none-any.whl", "/files/beta-1.0-py3-none-any.whl"}


def test_pip_refuses_a_wrong_hash(served: tuple[LocalIndex, Lock], pip_venv: Path,
                                  tmp_path: Path) -> None:
    index, lock = served
    alpha = lock.package("alpha")
    assert alpha is not None
    forged = LockedPackage(name="alpha", version="1.0", files=(
        LockedFile(alpha.files[0].filename, alpha.files[0].url, "1" * 64),))
    bad = Lock(packages=(forged, *[p for p in lock.packages if p.name != "alpha"]),
               target=lock.target)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(to_requirements_txt(bad))
    site = tmp_path / "site"
    result = pip_install(pip_venv, requirements, index, site)
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr
    assert not (site / "alpha").exists()


def test_uv_installs_pylock_toml(served: tuple[LocalIndex, Lock], tmp_path: Path) -> None:
    _, lock = served
    venv = tmp_path / "venv"
    result = run(UV, "venv", "--no-config", "--quiet", "--python", sys.executable, venv)
    assert result.returncode == 0, result.stderr
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(to_pylock_toml(lock))
    python = venv / "bin" / "python"
    result = run(UV, "pip", "install", "--no-config", "--no-cache", "--python", python,
                 "-r", pylock)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imports(python) == "1.0 1.0"


def test_uv_refuses_a_wrong_hash(served: tuple[LocalIndex, Lock], tmp_path: Path) -> None:
    _, lock = served
    beta = lock.package("beta")
    assert beta is not None
    forged = LockedPackage(name="beta", version="1.0", files=tuple(
        LockedFile(f.filename, f.url, "2" * 64, f.size) for f in beta.files))
    bad = Lock(packages=(forged, *[p for p in lock.packages if p.name != "beta"]),
               target=lock.target)
    venv = tmp_path / "venv"
    assert run(UV, "venv", "--no-config", "--quiet", "--python", sys.executable,
               venv).returncode == 0
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(to_pylock_toml(bad))
    result = run(UV, "pip", "install", "--no-config", "--no-cache", "--python",
                 venv / "bin" / "python", "-r", pylock)
    assert result.returncode != 0
    assert "hash" in result.stderr.lower()
    assert not list(venv.glob("lib/python*/site-packages/beta"))
